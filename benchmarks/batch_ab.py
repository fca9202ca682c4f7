"""A/B of the batched trainer: this tree's actsearch/train/batch.py against
the same module at a git revision, side by side in one process.

Run: ``python benchmarks/batch_ab.py [--rev main] [--rounds 3] [--threads 1]``.

Each round trains, in alternating order, the same batches with both modules
on mnist1d-mlp (the task's epochs unless ``--epochs``): K = 8 distinct candidates x
1 seed, 5 seeds of one candidate, and 8 members of 3 candidates. Prints wall
and CPU seconds per batch, the set-up seconds (building the members), and the
ratio reference / this tree (above 1: this tree is faster). Validation
accuracies of both are printed so that a change of results shows.

The reference module runs against this tree's other train/ modules, so the
revision must import only names they still have (``recipe``, ``trainer``'s
public names: a revision from the trainer's recipe split on).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def load_reference(rev: str):
    """actsearch/train/batch.py at ``rev`` as module ``actsearch.train._batch_ref``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:actsearch/train/batch.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("actsearch.train._batch_ref", f.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_batch(mod, task, members: list[tuple[str, int]], **kwargs) -> tuple[list, float]:
    """Train one batch with ``mod``; (results, set-up seconds). Asserts that it ran batched."""
    member = getattr(mod, "BatchMember", None) or mod.Member  # the name before the rename
    batch = [member(e, s) for e, s in members]
    if hasattr(mod, "train_batch_with_diagnostics"):
        results, diagnostics = mod.train_batch_with_diagnostics(task, batch, **kwargs)
        assert diagnostics.batched, diagnostics
        return results, diagnostics.setup_seconds
    results = mod.train_batch(task, batch, **kwargs)  # a revision with module-global timings
    assert mod.last_timings["batched"], mod.last_timings
    return results, mod.last_timings["setup"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="main")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default)")
    ap.add_argument("--epochs", type=int, default=0, help="0: the task's epochs")
    args = ap.parse_args()
    if args.threads:
        from actsearch.execute.worker import configure_tensorflow

        configure_tensorflow(args.threads, use_gpu=False)

    from train import BATCH_CANDIDATES

    from actsearch.tasks import get_task
    from actsearch.train import batch as ours
    from actsearch.train import prepare_data

    ref = load_reference(args.rev)
    task = get_task("mnist1d-mlp")
    resident = prepare_data(task.get_data())
    epochs = args.epochs or None
    cases = {
        "8 distinct x 1 seed": [(e, 0) for e in BATCH_CANDIDATES],
        "1 candidate x 5 seeds": [(BATCH_CANDIDATES[0], s) for s in range(5)],
        "3 candidates, 8 members": [(BATCH_CANDIDATES[j % 3], j) for j in range(8)],
    }
    for mod in (ref, ours):  # warm-up
        run_batch(mod, task, [(e, 99) for e in BATCH_CANDIDATES[:2]], data=resident, epochs=1)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print(f"reference {args.rev} vs this tree; threads {args.threads or 'default'}", flush=True)
    for rnd in range(args.rounds):
        for case, members in cases.items():
            order = [("ref", ref), ("new", ours)] if rnd % 2 == 0 else [("new", ours), ("ref", ref)]
            line = []
            for name, mod in order:
                load = os.getloadavg()[0]
                t0, c0 = time.perf_counter(), time.process_time()
                res, setup = run_batch(mod, task, [(e, s + rnd) for e, s in members], data=resident, epochs=epochs)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                times.setdefault((case, name), []).append((wall, cpu))
                accs = [round(r.val_accuracy or float("nan"), 4) for r in res]
                line.append(f"{name} {wall:.2f} s (CPU {cpu:.2f}, set-up {setup:.2f}, load {load:.1f}) {accs}")
            print(f"  round {rnd} {case}: " + " | ".join(line), flush=True)
    print()
    for case in cases:
        r, n = times[(case, "ref")], times[(case, "new")]
        wall = statistics.mean(a[0] / b[0] for a, b in zip(r, n))
        cpu = statistics.mean(a[1] / b[1] for a, b in zip(r, n))
        print(
            f"{case:24s}: ref {statistics.mean(a[0] for a in r):.2f} s, new {statistics.mean(b[0] for b in n):.2f} s: "
            f"ref/new {wall:.2f}x wall, {cpu:.2f}x CPU (mean of {len(r)} paired rounds)"
        )


if __name__ == "__main__":
    main()
