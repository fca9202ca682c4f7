"""Trainer benchmark: actsearch's fused trainer vs the seed article's approach.

Run: ``python benchmarks/train.py`` (about 3-5 minutes on 2 CPU cores).
Options: ``--seeds N`` (default 3), ``--quick`` (fewer epochs, for a smoke run).

Measured side by side in one process, on mnist1d-mlp at EQUAL optimizer,
batch size and number of steps:

(a) candidate trainings per minute: ours vs a plain Python activation
    ``def f(x): return x * tf.sigmoid(x)`` in a Keras Sequential model trained
    with ``model.compile(...); model.fit(...)`` on numpy arrays (+ evaluate);
(b) final validation accuracy of both over the seeds (mean +- std);
(c) step time of an evolved activation vs built-in relu with our trainer;
(d) multi-fidelity: the same candidates with and without a hurdle;
(e) XLA (jit_compile=True) vs the default, and resident memory over 30
    trainings in one process;
(f) population-batched training (actsearch.train.batch), in the same run:
    trainings/min of K=8 candidates x 1 seed in one program against the
    article's compile+fit and against the one-at-a-time trainer; 5 seeds of
    one candidate against 1 seed; accuracy over 5 seeds batched vs one at a
    time and the first 10 step losses of the same seeds; set-up + tracing
    seconds per candidate. ``--part batched`` runs only (f), ``--part single``
    only (a)-(e);
(g) ``--part k``: the batch size that pays on this machine: a batch of K
    distinct candidates against the same K trained one at a time, for K = 2,
    4, 8, 12, 16, interleaved. ``--threads 1`` runs TensorFlow on one thread,
    as each Ray worker does (the default leaves TensorFlow's own choice).
(h) in ``--part batched``: the fused Adam update (actsearch.train.update)
    against Keras' own update, interleaved: one training alone and a batch of
    5 seeds;
(i) in ``--part batched``: the arithmetic floor of (f): the matrix products
    alone of a training's steps (forward and backward, batched over the
    members as the batched program runs them), and the ratios (f) would reach
    if everything else (tracing, activations, loss, optimizer) cost nothing.
(j) ``--part panel``: every built-in task (``actsearch tasks``) at its
    default setup on ONE TensorFlow thread (as a search worker; ``--threads``
    changes it): the median seconds per training (``train_seconds``: model
    building, tracing, training and validation) and its CPU seconds (less
    sensitive to a shared machine's load), relu, Swish, GELU and tanh
    over ``--seeds`` seeds (validation fitness mean +- std: accuracy, or -MSE
    where lower is better), what ignoring the input scores (the most frequent
    class, or predicting the training mean), and whether a batch of two
    members runs as one vectorized program. About 5 minutes with 3 seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from actsearch.tasks import get_task

EVOLVED = "x * sigmoid(1.5*x) + 0.1*tanh(x)"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def article_train(data, setup, seed: int) -> tuple[float, float]:
    """The seed article's way: a Python activation function in a Sequential
    model, model.compile + model.fit on numpy arrays, then evaluate.
    Returns (val_accuracy, seconds)."""
    import keras
    import tensorflow as tf

    def f(x):
        return x * tf.sigmoid(x)

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input(shape=(data.x_train.shape[1],)),
            keras.layers.Dense(100, activation=f),
            keras.layers.Dense(100, activation=f),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(setup.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(data.x_train, data.y_train, epochs=setup.epochs, batch_size=setup.batch_size, shuffle=True, verbose=0)
    _, acc = model.evaluate(data.x_val, data.y_val, batch_size=1024, verbose=0)
    return float(acc), time.perf_counter() - t0


def fmt(values) -> str:
    return f"{statistics.mean(values):.4f} +- {statistics.pstdev(values):.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="few epochs (smoke run)")
    ap.add_argument("--part", choices=("all", "single", "batched", "k", "panel"), default="all")
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (g)")
    args = ap.parse_args()

    import tensorflow as tf

    if args.part == "panel":
        args.threads = args.threads or 1  # as every search worker trains
    if args.threads:
        from actsearch.execute.worker import configure_tensorflow

        configure_tensorflow(args.threads, use_gpu=False)
    if args.part == "panel":
        panel(args.seeds, args.threads, args.quick)
        return

    from actsearch.train import prepare_data, train

    t_start = time.perf_counter()
    task = get_task("mnist1d-mlp")
    if args.quick:
        task.setup = dataclasses.replace(task.setup, epochs=5)
    setup = task.setup
    data = task.get_data()
    resident = prepare_data(data)
    seeds = list(range(args.seeds))
    steps = setup.total_steps(data.n_train)
    rows: list[tuple[str, str]] = []

    def swish(x):
        return x * tf.sigmoid(x)

    print(
        f"mnist1d-mlp: {data.n_train} train / {len(data.y_val)} val, "
        f"{setup.epochs} epochs x {setup.steps_per_epoch(data.n_train)} steps = {steps} steps, "
        f"batch {setup.batch_size}, {setup.optimizer} lr {setup.learning_rate}; "
        f"TF {tf.__version__}, {os.cpu_count()} CPUs, "
        f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} TF threads",
        flush=True,
    )

    # warm-up both paths (TF initialisation is not a per-candidate cost)
    train(task, swish, seed=99, data=resident, epochs=1)
    article_train(data, dataclasses.replace(setup, epochs=1), 99)
    if args.part == "k":
        rows += k_rows(task, resident, args.rounds)
    if args.part in ("all", "batched"):
        rows += batched_rows(task, data, resident, setup)
    if args.part in ("all", "single"):
        rows += single_rows(task, data, resident, setup, seeds, swish)
    print_rows(rows, t_start)


def single_rows(task, data, resident, setup, seeds, swish) -> list[tuple[str, str]]:
    """(a)-(e): the one-at-a-time trainer against the article."""
    import tensorflow as tf

    from actsearch.train import train, train_with_diagnostics

    rows: list[tuple[str, str]] = []

    # (a) + (b): same activation (x*sigmoid(x)), same seeds, same steps
    # interleaved, so that a change of machine load hits both alike
    ours, art = [], []
    for s in seeds:
        ours.append(train(task, swish, seed=s, data=resident))
        art.append(article_train(data, setup, s))
    assert all(r.status == "ok" for r in ours), ours
    ours_t = [r.train_seconds for r in ours]
    art_t = [t for _, t in art]
    print(f"  ours   : {[round(t, 2) for t in ours_t]} s", flush=True)
    print(f"  article: {[round(t, 2) for t in art_t]} s", flush=True)
    ours_per_min = 60 / statistics.mean(ours_t)
    art_per_min = 60 / statistics.mean(art_t)
    rows += [
        ("(a) trainings/min, ours (fused tf.function)", f"{ours_per_min:.1f}  ({statistics.mean(ours_t):.2f} s each)"),
        ("(a) trainings/min, article (compile+fit)", f"{art_per_min:.1f}  ({statistics.mean(art_t):.2f} s each)"),
        ("(a) speed-up ours / article", f"{ours_per_min / art_per_min:.1f}x"),
        ("(b) val accuracy x*sigmoid(x), ours", fmt([r.fitness for r in ours])),
        ("(b) val accuracy x*sigmoid(x), article", fmt([a for a, _ in art])),
    ]

    # (c) step time: evolved vs relu. The training runs in two compiled
    # calls (a hurdle that never stops it); the second call does not trace,
    # so its time / steps is the pure step time. Best of the seeds.
    evolved = EVOLVED  # through the expression language, as a search trains it
    short = max(1, setup.epochs // 4)

    def timing(act):
        runs, steps, totals = [], [], []
        for s in seeds:
            r, diagnostics = train_with_diagnostics(task, act, seed=s, data=resident, rungs=((short, -np.inf),))
            assert r.status == "ok", r
            later = diagnostics.segments[1]
            runs.append(r)
            steps.append(later.seconds / later.steps)
            totals.append(r.train_seconds)
        return min(steps), min(totals), runs

    relu_step, relu_total, relu_runs = timing(tf.nn.relu)
    evo_step, evo_total, evo_runs = timing(evolved)
    rows += [
        ("(c) step time relu (ms)", f"{relu_step * 1e3:.3f}"),
        ("(c) step time evolved (ms)", f"{evo_step * 1e3:.3f}"),
        ("(c) evolved / relu, per step", f"{evo_step / relu_step:.2f}x"),
        (
            "(c) evolved / relu, whole training",
            f"{evo_total / relu_total:.2f}x ({evo_total:.2f} s vs {relu_total:.2f} s)",
        ),
        (
            "    val accuracy relu / evolved",
            f"{fmt([r.fitness for r in relu_runs])} / {fmt([r.fitness for r in evo_runs])}",
        ),
    ]

    # (d) multi-fidelity: hurdle at 1/4 of the epochs, threshold = median of
    # the candidates' fitness at that point (AutoML-Zero style).
    candidates = {
        "relu": tf.nn.relu,
        "swish": swish,
        "tanh": tf.tanh,
        "sigmoid": tf.sigmoid,
        "elu": tf.nn.elu,
        "softplus": tf.nn.softplus,
        "evolved": evolved,
        "sin": tf.sin,
    }
    h_epoch = max(1, setup.epochs // 4)
    t0 = time.perf_counter()
    full = {k: train(task, a, seed=0, data=resident, rungs=((h_epoch, -np.inf),)) for k, a in candidates.items()}
    t_full = time.perf_counter() - t0
    threshold = float(np.median([r.partials[0].val_accuracy for r in full.values()]))
    t0 = time.perf_counter()
    hurdled = {k: train(task, a, seed=0, data=resident, rungs=((h_epoch, threshold),)) for k, a in candidates.items()}
    t_hurdle = time.perf_counter() - t0
    top_full = sorted(full, key=lambda k: -(full[k].fitness or -1))[:3]
    survivors = [k for k, r in hurdled.items() if r.status == "ok"]
    top_hurdle = sorted(survivors, key=lambda k: -(hurdled[k].fitness or -1))[:3]
    rows += [
        (f"(d) {len(candidates)} candidates, no hurdle (s)", f"{t_full:.1f}"),
        (
            f"(d) hurdle epoch {h_epoch} @ median {threshold:.3f} (s)",
            f"{t_hurdle:.1f}  ({100 * (1 - t_hurdle / t_full):.0f}% saved, {len(candidates) - len(survivors)} stopped)",
        ),
        ("(d) top-3 without / with hurdle", f"{top_full} / {top_hurdle}"),
        ("(d) top-3 preserved", str(top_full == top_hurdle)),
    ]

    # (e) XLA and memory
    xla = [train(task, swish, seed=s, data=resident, jit_compile=True) for s in seeds]
    if all(r.status == "ok" for r in xla):
        rows.append(
            (
                "(e) XLA jit_compile=True: s per training / val acc",
                f"{statistics.mean(r.train_seconds for r in xla):.2f} / {fmt([r.fitness for r in xla])}",
            )
        )
    else:
        rows.append(("(e) XLA jit_compile=True", f"failed: {xla[0].error}"))
    n_mem = 30
    rss0 = rss_mb()
    rss = []
    for i in range(n_mem):
        train(task, evolved if i % 2 else swish, seed=i, data=resident, epochs=short)
        rss.append(rss_mb())
    n_art = 15
    rss_art0 = rss_mb()
    for i in range(n_art):
        article_train(data, dataclasses.replace(setup, epochs=short), i)
    rss_art = rss_mb()
    rows += [
        (
            f"(e) RSS over {n_mem} trainings, ours (MB)",
            f"before {rss0:.0f}, after 1: {rss[0]:.0f}, after 10: {rss[9]:.0f}, after {n_mem}: {rss[-1]:.0f}",
        ),
        ("    RSS growth per training, ours (MB)", f"{(rss[-1] - rss[9]) / (n_mem - 10):.2f}"),
        (f"    RSS growth per training, article ({n_art} trainings) (MB)", f"{(rss_art - rss_art0) / n_art:.2f}"),
    ]
    return rows


#: Eight distinct candidates for the batched figures (a generation's worth).
BATCH_CANDIDATES = [
    "x * sigmoid(x)",
    "tanh(x)",
    "relu(x)",
    "x * sigmoid(1.5*x) + 0.1*tanh(x)",
    "softplus(x)",
    "max(x, 0.1*x)",
    "x * tanh(softplus(x))",
    "sigmoid(x) * x + 0.5*x",
]


#: More distinct candidates for (g), beyond BATCH_CANDIDATES.
MORE_CANDIDATES = [
    "x * sigmoid(2*x)",
    "abs(x) * tanh(x)",
    "x + 0.5*tanh(x)",
    "softplus(x) - 0.7",
    "min(x, 0) * 0.2 + relu(x)",
    "x * sigmoid(0.8*x) + 0.05*x",
    "tanh(x) + 0.1*x",
    "x * tanh(x)",
]


def k_rows(task, resident, rounds: int) -> list[tuple[str, str]]:
    """(g): a batch of K distinct candidates against the same K one at a time (full trainings)."""
    from actsearch.train import train
    from actsearch.train.batch import BatchMember, train_batch, train_batch_with_diagnostics

    pool = BATCH_CANDIDATES + MORE_CANDIDATES
    train_batch(task, [BatchMember(e, 99) for e in pool[:2]], data=resident, epochs=1)  # warm-up
    rows: list[tuple[str, str]] = []
    for k in (2, 4, 8, 12, 16):
        t_batch, t_alone = [], []
        for rnd in range(rounds):
            shift = (3 * rnd) % len(pool)  # another mix of candidates each round
            chosen = (pool[shift:] + pool[:shift])[:k]
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            res, diagnostics = train_batch_with_diagnostics(task, [BatchMember(e, rnd) for e in chosen], data=resident)
            t_batch.append((time.perf_counter() - t0, time.process_time() - c0))
            assert diagnostics.batched and all(r.status == "ok" for r in res), res
            t0, c0 = time.perf_counter(), time.process_time()
            for e in chosen:
                assert train(task, e, seed=rnd, data=resident).status == "ok"
            t_alone.append((time.perf_counter() - t0, time.process_time() - c0))
            (wb, cb), (wa, ca) = t_batch[-1], t_alone[-1]
            print(
                f"  K={k} round {rnd}: batch {wb:.2f} s (CPU {cb:.2f}), one at a time {wa:.2f} s (CPU {ca:.2f}): "
                f"{wa / wb:.2f}x wall, {ca / cb:.2f}x CPU (load {load:.1f} -> {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        wall = [a[0] / b[0] for a, b in zip(t_alone, t_batch)]
        cpu = [a[1] / b[1] for a, b in zip(t_alone, t_batch)]
        rows.append(
            (
                f"(g) K={k} distinct: one at a time / batched",
                f"{statistics.mean(wall):.2f}x wall, {statistics.mean(cpu):.2f}x CPU time "
                f"(batch of {k}: {statistics.mean(b[0] for b in t_batch):.1f} s)",
            )
        )
    return rows


def _trace_seconds(first_call: float, first_steps: int, later_call: float, later_steps: int) -> float:
    """Tracing = the first compiled call minus its steps at the later call's step time."""
    return max(0.0, first_call - first_steps * later_call / max(1, later_steps))


def batched_rows(task, data, resident, setup) -> list[tuple[str, str]]:
    """(f): population-batched training against one at a time and the article."""
    from actsearch.train import train, train_with_diagnostics
    from actsearch.train.batch import BatchMember, train_batch, train_batch_with_diagnostics

    rows: list[tuple[str, str]] = []
    k = len(BATCH_CANDIDATES)
    spe = setup.steps_per_epoch(data.n_train)
    quarter = max(1, setup.epochs // 4)
    train_batch(task, [BatchMember(e, 99) for e in BATCH_CANDIDATES[:2]], data=resident, epochs=1)  # warm-up

    # K candidates x 1 seed: batched vs one at a time vs the article, interleaved
    # rounds; the hurdle that stops nothing splits each training into two
    # compiled calls, so tracing = first call - its steps at the second's rate.
    t_batch, t_alone, t_art = [], [], []
    cpu: dict[str, list[float]] = {"batch": [], "alone": [], "art": [], "one": [], "five": []}
    trace: dict[str, list[float]] = {"alone": [], "batched": []}
    parts: dict[str, list[float]] = {"setup": [], "trace": [], "step_ms": []}
    for rnd in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        res, diagnostics = train_batch_with_diagnostics(
            task, [BatchMember(e, rnd) for e in BATCH_CANDIDATES], data=resident, rungs=((quarter, -np.inf),)
        )
        t_batch.append(time.perf_counter() - t0)
        cpu["batch"].append(time.process_time() - c0)
        assert diagnostics.batched and all(r.status == "ok" for r in res), res
        (e1, s1), (e2, s2) = ((seg.epochs, seg.seconds) for seg in diagnostics.segments)
        trace["batched"].append((diagnostics.setup_seconds + _trace_seconds(s1, e1, s2, e2)) / k)
        parts["setup"].append(diagnostics.setup_seconds)
        parts["trace"].append(_trace_seconds(s1, e1, s2, e2))
        parts["step_ms"].append(1e3 * s2 / (e2 * spe))
        t0, c0 = time.perf_counter(), time.process_time()
        for e in BATCH_CANDIDATES:
            r, alone_diagnostics = train_with_diagnostics(task, e, seed=rnd, data=resident, rungs=((quarter, -np.inf),))
            assert r.status == "ok", r
            (n1, c1), (n2, c2) = ((seg.steps, seg.seconds) for seg in alone_diagnostics.segments)
            trace["alone"].append(alone_diagnostics.setup_seconds + _trace_seconds(c1, n1 / spe, c2, n2 / spe))
        t_alone.append(time.perf_counter() - t0)
        cpu["alone"].append(time.process_time() - c0)
        c0 = time.process_time()
        t_art.append(article_train(data, setup, rnd)[1])
        cpu["art"].append(time.process_time() - c0)
        print(
            f"  round {rnd}: batch of {k} {t_batch[-1]:.2f} s, {k} one at a time {t_alone[-1]:.2f} s, "
            f"article one {t_art[-1]:.2f} s",
            flush=True,
        )
    per_min_batch = 60 * k / statistics.mean(t_batch)
    per_min_alone = 60 * k / statistics.mean(t_alone)
    per_min_art = 60 / statistics.mean(t_art)
    rows += [
        (
            f"(f) trainings/min, batched K={k} x 1 seed",
            f"{per_min_batch:.1f}  ({statistics.mean(t_batch):.2f} s per batch of {k})",
        ),
        ("(f) trainings/min, one at a time (fused trainer)", f"{per_min_alone:.1f}"),
        ("(f) trainings/min, article (compile+fit)", f"{per_min_art:.1f}  ({statistics.mean(t_art):.2f} s each)"),
        ("(f) batched / article", f"{per_min_batch / per_min_art:.1f}x"),
        ("(f) batched / one at a time", f"{per_min_batch / per_min_alone:.2f}x"),
        # CPU seconds of this process: the work done, much less sensitive than wall time to a shared machine
        ("(f) batched / article, CPU time", f"{k * statistics.mean(cpu['art']) / statistics.mean(cpu['batch']):.1f}x"),
        (
            "(f) batched / one at a time, CPU time",
            f"{statistics.mean(cpu['alone']) / statistics.mean(cpu['batch']):.2f}x",
        ),
        ("(f) set-up + tracing s per candidate, one at a time", f"{statistics.mean(trace['alone']):.3f}"),
        ("(f) set-up + tracing s per candidate, batched", f"{statistics.mean(trace['batched']):.3f}"),
        (
            f"(f) batch of {k}: set-up s / tracing s / ms per step",
            f"{statistics.mean(parts['setup']):.2f} / {statistics.mean(parts['trace']):.2f} / "
            f"{statistics.mean(parts['step_ms']):.2f}  ({spe * setup.epochs} steps)",
        ),
    ]

    # 5 seeds of one candidate vs 1 seed; accuracy and the first step losses
    cand, five = "x * sigmoid(x)", [0, 1, 2, 3, 4]
    t_one, t_five = [], []
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        train(task, cand, seed=0, data=resident)
        t_one.append(time.perf_counter() - t0)
        cpu["one"].append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        batched = train_batch(task, [BatchMember(cand, s) for s in five], data=resident)
        t_five.append(time.perf_counter() - t0)
        cpu["five"].append(time.process_time() - c0)
    alone = [train(task, cand, seed=s, data=resident) for s in five]
    _, recorded = train_batch_with_diagnostics(
        task, [BatchMember(cand, s) for s in five], data=resident, epochs=1, record_steps=10
    )
    first_losses = recorded.step_losses[:10]
    diffs = []
    for j, s in enumerate(five):
        _, alone_recorded = train_with_diagnostics(task, cand, seed=s, data=resident, epochs=1, record_steps=10)
        diffs.append(float(np.max(np.abs(first_losses[:, j] - alone_recorded.step_losses[:10]))))
    rows += [
        (
            "(f) 5 seeds batched / 1 seed alone, time",
            f"{min(t_five) / min(t_one):.2f}x  ({min(t_five):.2f} s vs {min(t_one):.2f} s, best of 2)",
        ),
        ("(f) 5 seeds batched / 1 seed alone, CPU time", f"{min(cpu['five']) / min(cpu['one']):.2f}x  (best of 2)"),
        ("(f) val accuracy over 5 seeds, batched", fmt([r.val_accuracy for r in batched])),
        ("(f) val accuracy over 5 seeds, one at a time", fmt([r.val_accuracy for r in alone])),
        ("(f) max |loss difference|, first 10 steps, same seeds", f"{max(diffs):.2e}"),
    ]

    rows += update_rows(task, resident, cand, five)
    rows += floor_rows(task, resident, setup, k, statistics.mean(t_art), min(t_one), cand)

    # memory of a long-lived worker: batches of 4 short trainings in one process
    n_mem, rss = 16, []
    for i in range(n_mem):
        train_batch(task, [BatchMember(e, i) for e in BATCH_CANDIDATES[i % 2 :: 2][:4]], data=resident, epochs=1)
        rss.append(rss_mb())
    rows.append(
        (
            f"(f) RSS over {n_mem} batches of 4 (MB)",
            f"after 1: {rss[0]:.0f}, after 6: {rss[5]:.0f}, after {n_mem}: {rss[-1]:.0f} "
            f"({(rss[-1] - rss[5]) / (n_mem - 6):.2f} per batch)",
        )
    )
    return rows


def update_rows(task, resident, cand: str, five: list[int]) -> list[tuple[str, str]]:
    """(h): the fused Adam update against Keras' own, interleaved, two rounds."""
    from actsearch.train import train
    from actsearch.train.batch import BatchMember, train_batch

    seconds: dict[tuple[str, bool], list[float]] = {}
    for rnd in range(2):
        for fused in (False, True):
            t0 = time.perf_counter()
            assert train(task, cand, seed=rnd, data=resident, fused=fused).status == "ok"
            seconds.setdefault(("one", fused), []).append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            train_batch(task, [BatchMember(cand, s) for s in five], data=resident, fused=fused)
            seconds.setdefault(("five", fused), []).append(time.perf_counter() - t0)
    rows = []
    for what, label in (("one", "one training alone"), ("five", "5 seeds batched")):
        keras_s, fused_s = min(seconds[(what, False)]), min(seconds[(what, True)])
        rows.append(
            (
                f"(h) {label}: Keras' Adam update / fused Adam",
                f"{keras_s / fused_s:.2f}x  ({keras_s:.2f} s vs {fused_s:.2f} s, best of 2)",
            )
        )
    return rows


def matmul_floor(task, batch_size: int, members: int, steps: int) -> float:
    """Seconds of the matrix products alone of ``steps`` training steps of
    ``members`` members of the task's Dense layers, batched as the batched
    program runs them: per layer one forward product and the weight gradient,
    and the input gradient for every layer but the first."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session(free_memory=False)
    model = task.build_model("relu")
    kernels = [tuple(layer.kernel.shape) for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    rng = np.random.default_rng(0)

    def stacked(*shape: int):
        return tf.constant(rng.normal(size=(members, *shape)).astype("float32"))

    inputs = [stacked(batch_size, d_in) for d_in, _ in kernels]
    weights = [stacked(d_in, d_out) for d_in, d_out in kernels]
    grads = [stacked(batch_size, d_out) for _, d_out in kernels]

    def step(i, acc):
        total = acc
        for layer, (x, w, g) in enumerate(zip(inputs, weights, grads)):
            total += tf.reduce_sum(tf.matmul(x, w)[:, :1, :1]) + tf.reduce_sum(
                tf.matmul(x, g, transpose_a=True)[:, :1, :1]
            )
            if layer > 0:
                total += tf.reduce_sum(tf.matmul(g, w, transpose_b=True)[:, :1, :1])
        return i + 1, total

    run = tf.function(lambda: tf.while_loop(lambda i, _: i < steps, step, (0, 0.0)), autograph=False)
    run()  # trace and warm up
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def floor_rows(task, resident, setup, k: int, t_article: float, t_one: float, cand: str) -> list[tuple[str, str]]:
    """(i): the matrix products alone of (f)'s batches and the best ratios they allow;
    then the same with each member's own element-wise work added (activations, loss,
    update): per member-step it is the growth of the rest of a step (step minus its
    products) from 1 seed alone to 5 seeds batched, divided by 4, so the executor's
    cost per operation, paid once per step whatever the members, is left out, as
    is all tracing."""
    from actsearch.train import train_with_diagnostics
    from actsearch.train.batch import BatchMember, train_batch_with_diagnostics

    steps = setup.total_steps(resident.n_train)
    floor = {m: matmul_floor(task, setup.batch_size, m, steps) for m in (1, 5, k)}
    quarter = max(1, setup.epochs // 4)
    r, one = train_with_diagnostics(task, cand, seed=0, data=resident, rungs=((quarter, -np.inf),))
    assert r.status == "ok"
    step_one = one.segments[1].seconds / one.segments[1].steps
    _, five = train_batch_with_diagnostics(
        task, [BatchMember(cand, s) for s in range(5)], data=resident, rungs=((quarter, -np.inf),)
    )
    e2, s2 = five.segments[1].epochs, five.segments[1].seconds
    step_five = s2 / (e2 * setup.steps_per_epoch(resident.n_train))
    rest_one, rest_five = step_one - floor[1] / steps, step_five - floor[5] / steps
    own = max(0.0, (rest_five - rest_one) / 4)  # seconds per member-step
    best_k = floor[k] + k * own * steps
    best_5 = floor[5] + 5 * own * steps
    return [
        (
            f"(i) matrix products alone, {steps} steps: 1 / 5 / {k} members (s)",
            f"{floor[1]:.2f} / {floor[5]:.2f} / {floor[k]:.2f}",
        ),
        (f"(i) batched K={k} / article at best (all but the products free)", f"{k * t_article / floor[k]:.1f}x"),
        ("(i) 5 seeds / 1 seed alone at best (all but the products free)", f"{floor[5] / t_one:.2f}x"),
        (
            "(i) step ms, 1 seed alone / 5 seeds batched; rest beyond products",
            f"{1e3 * step_one:.3f} / {1e3 * step_five:.3f}; {1e3 * rest_one:.3f} / {1e3 * rest_five:.3f}",
        ),
        ("(i) a member's own element-wise work, ms per step", f"{1e3 * own:.3f}"),
        (f"(i) batched K={k} / article at best (products + own work)", f"{k * t_article / best_k:.1f}x"),
        ("(i) 5 seeds / 1 seed alone at best (products + own work)", f"{best_5 / t_one:.2f}x"),
    ]


#: The baselines of a search (actsearch.spaces.DEFAULT_BASELINES), by the names of the table.
PANEL_BASELINES = {"relu": "relu(x)", "Swish": "x * sigmoid(x)", "GELU": "gelu(x)", "tanh": "tanh(x)"}


def trivial(task) -> float:
    """The validation fitness of ignoring the input: the most frequent class's share, or
    minus the MSE of predicting the training mean."""
    data = task.get_data()
    if task.higher_is_better:
        return float(np.bincount(data.y_val).max() / len(data.y_val))
    return -float(np.mean((data.y_val - data.y_train.mean()) ** 2))


def panel(n_seeds: int, threads: int, quick: bool) -> None:
    """(j): every built-in task at its default setup with the four baselines, in one table."""
    import tensorflow as tf

    from actsearch.tasks import task_names
    from actsearch.train import prepare_data, train
    from actsearch.train.batch import BatchMember, train_batch_with_diagnostics

    t_start = time.perf_counter()
    print(
        f"task panel: {n_seeds} seeds, {threads} TF thread(s), TF {tf.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; "
        "fitness on the validation split (accuracy, or -MSE), mean +- std over the seeds",
        flush=True,
    )
    header = ["task", "s/training", "CPU s", "ignore input", *PANEL_BASELINES, "batched"]
    table: list[list[str]] = []
    from actsearch.tasks.teachers import FAMILY

    for name in (n for n in task_names() if n not in FAMILY):  # the teacher family: benchmarks/teachers.py
        task = get_task(name)
        if quick:
            task.setup = dataclasses.replace(task.setup, epochs=1)
        resident = prepare_data(task.get_data())
        train(task, "relu(x)", seed=99, data=resident, epochs=1)  # warm-up: TF start, first trace
        seconds: list[float] = []
        cpu: list[float] = []
        cells = []
        for label, expr in PANEL_BASELINES.items():
            fitness = []
            for seed in range(n_seeds):
                c0 = time.process_time()
                result = train(task, expr, seed=seed, data=resident)
                cpu.append(time.process_time() - c0)
                seconds.append(result.train_seconds)
                fitness.append(result.fitness if result.status == "ok" else float("nan"))
            cells.append(fmt(fitness))
            print(f"  {name} {label}: {[round(f, 4) for f in fitness]}", flush=True)
        _, diagnostics = train_batch_with_diagnostics(
            task, [BatchMember("relu(x)", 0), BatchMember("tanh(x)", 1)], data=resident, epochs=1
        )
        batched = "yes" if diagnostics.batched else f"no ({diagnostics.reason})"
        row = [
            name,
            f"{statistics.median(seconds):.2f}",
            f"{statistics.median(cpu):.2f}",
            f"{trivial(task):.4f}",
            *cells,
            batched,
        ]
        print(
            f"  {name}: {statistics.median(seconds):.2f} s per training (max {max(seconds):.2f}), "
            f"CPU {statistics.median(cpu):.2f} s (max {max(cpu):.2f}), load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        table.append(row)
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s, load average {os.getloadavg()[0]:.1f}")


def print_rows(rows: list[tuple[str, str]], t_start: float) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for k, v in rows:
        print(f"{k.ljust(width)} | {v}")
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
