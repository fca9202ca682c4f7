"""Executor benchmark: the real search on 1 and on 2 Ray workers, side by side.

Run: ``.venv/bin/python benchmarks/execute.py`` (about 4-6 minutes on 2 CPU
cores, at least 60 trainings per run); ``--quick`` for a smoke run (~1-2
minutes); ``--profile`` adds a cProfile of the driver (2-worker run);
``--wait-idle S`` waits up to S s (default 60) before each run for other
jobs to leave the CPUs.

Both runs are the real thing: ``run_search`` with the ``regularized`` (steady
state, asynchronous) strategy on the default search space, a fresh SQLite
store in a temporary directory, task ``mnist1d-mlp`` at its default budget
(60 epochs; docs/performance.md has the time per training), ``RayExecutor`` with long-lived
``TrainingWorker`` actors. Ray is started once; actor start-up (TensorFlow
import, data transfer) happens before the clock starts.

The executor is wrapped (same protocol; ``run_search(wrap_executor=...)``) to time
the search phase. Definitions:

- wall: first ``submit`` -> the search is done with its executor (start-up excluded).
- busy: sum over workers of ``TrainingWorker.busy_seconds`` (time inside
  ``run(trial)``) gained during the phase.
- evaluations: trainings that came back (rejected and duplicate proposals
  cost no training and are not counted).
- utilisation = busy / (wall x workers).
- throughput = evaluations / wall; ratio = throughput(2) / throughput(1).
- driver overhead per evaluation = (wall x workers - busy) / evaluations:
  worker-seconds NOT spent training, per training. It is split into
    * turnaround: a result was handed to the search loop -> the freed worker
      got its next trial (the driver's record/tell/ask/screen/store/report),
    * ray: submit -> result collected, minus busy (Ray dispatch and return,
      and a finished result waiting while the driver was busy),
    * ramp/drain: slots with nothing to run (end of the budget, or the
      strategy waiting for results to breed from).
- driver CPU per evaluation: the search loop's own time outside
  ``executor.wait()``, by part (the loop's observer hook, ``run_search(observer=...)``,
  which also times each store write as ``store.METHOD``).
- worker memory: peak RSS (``max_rss_mb``) of each worker sampled right
  after ITS first evaluation (the worker is idle then) and after the last;
  growth = last / first - 1, worst worker reported. Current RSS is shown too
  when the worker reports it (``rss_mb``).

Targets: utilisation >= 90 %, throughput ratio >= 1.7, memory growth < 10 %.
Timing figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_UTILISATION = 0.90
TARGET_RATIO = 1.7
TARGET_MEMORY_GROWTH = 0.10


# -- CPU accounting from /proc (no psutil) -------------------------------------------------

_CLK = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest columns (already in user)
    return (total - idle) / _CLK, total / _CLK


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, user + system CPU seconds) of every process now."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK)
    return table


def wait_for_idle(limit: float, threshold: float) -> float:
    """Wait (at most `limit` s) until the machine's busy cores drop below `threshold`
    over 2 s; return the last reading. Other people's jobs skew every timing here."""
    deadline = time.monotonic() + limit
    while True:
        b0, t0 = machine_cpu()
        time.sleep(2.0)
        b1, t1 = machine_cpu()
        cores = (b1 - b0) / (t1 - t0) * (os.cpu_count() or 1) if t1 > t0 else 0.0
        if cores < threshold or time.monotonic() >= deadline:
            return cores


def descendants(table: dict[int, tuple[int, float]], root: int) -> set[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


# -- the executor wrapper ----------------------------------------------------------------


@dataclass
class Timings:
    first_submit: float | None = None
    end: float | None = None
    in_wait: float = 0.0
    held: float = 0.0  # sum over trials of submit -> collected
    turnaround: float = 0.0  # sum over refills of collected -> next submit
    turnarounds: list[float] = field(default_factory=list)
    excluded: float = 0.0  # time spent sampling worker info (taken out of the wall)
    results: int = 0
    waits: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class MeasuredExecutor:
    """Same protocol as the executor it wraps; times submits, waits and results.

    Worker memory at the first evaluation is sampled on the actor that just
    returned it (idle at that moment, so `info()` does not queue behind a
    training on the single-concurrency actor); this reads the RayExecutor's
    `running` table, which is fine for a benchmark.
    """

    def __init__(self, inner: Any, profiler: cProfile.Profile | None = None) -> None:
        self.inner = inner
        self.profiler = profiler  # profiles the driver from the first submit to the search's end
        self.workers = inner.workers  # the Executor protocol's fields, as the wrapped one has them
        self.capacity = inner.capacity
        self.t = Timings()
        self.info_start = {i["pid"]: i for i in inner.workers_info()}
        self.info_first: dict[int, dict] = {}
        self.info_end: dict[int, dict] = {}
        self.trajectory: dict[int, list[tuple[int, float, float | None]]] = defaultdict(list)
        self.mem_every = 10
        self._submitted: dict[int, float] = {}
        self._freed: deque[float] = deque()
        self.cpu_start: dict[str, Any] = {}

    @property
    def in_flight(self) -> int:
        return self.inner.in_flight

    def submit(self, trial: Any) -> None:
        now = time.perf_counter()
        if self.t.first_submit is None:
            self.t.first_submit = now
            self.cpu_start = self._cpu_snapshot()
            if self.profiler:
                self.profiler.enable()
        if self._freed:
            gap = now - self._freed.popleft()
            self.t.turnaround += gap
            self.t.turnarounds.append(gap)
        self._submitted[trial.trial_id] = now
        self.inner.submit(trial)

    def wait(self, timeout: float | None = None) -> list:
        actors = {entry.trial.trial_id: entry.actor for entry in getattr(self.inner, "running", {}).values()}
        started = time.perf_counter()
        out = self.inner.wait(timeout)
        now = time.perf_counter()
        self.t.in_wait += now - started
        self.t.waits += 1
        self.t.batch_sizes.append(len(out))
        for trial, _result in out:
            self.t.held += now - self._submitted.pop(trial.trial_id)
            self.t.results += 1
            self._freed.append(now)
            actor = actors.get(trial.trial_id)
            if actor is not None and (len(self.info_first) < self.capacity or self.t.results % self.mem_every == 0):
                self._sample(actor)
        return out

    def _sample(self, actor: Any) -> None:
        """Memory of an actor that just returned a result (so it is idle)."""
        import ray

        started = time.perf_counter()
        info = ray.get(actor.info.remote(), timeout=30)
        self.info_first.setdefault(info["pid"], info)
        self.trajectory[info["pid"]].append((info["trials"], info["max_rss_mb"], info.get("rss_mb")))
        elapsed = time.perf_counter() - started
        self.t.excluded += elapsed
        if self._freed:  # do not charge the sampling to the driver's turnaround
            self._freed[-1] += elapsed

    def finish(self) -> None:
        """Called when the search is done with its executor: stop the clock, sample the workers."""
        if self.profiler:
            self.profiler.disable()
        self.t.end = time.perf_counter()
        self.cpu_end = self._cpu_snapshot()
        self.info_end = {i["pid"]: i for i in self.inner.workers_info()}
        for pid, info in self.info_end.items():
            self.trajectory[pid].append((info["trials"], info["max_rss_mb"], info.get("rss_mb")))

    def _cpu_snapshot(self) -> dict[str, Any]:
        """CPU seconds so far: machine, driver, workers, the rest of our Ray, everything else."""
        busy, total = machine_cpu()
        table = process_table()
        ours = descendants(table, os.getpid())  # Ray started by this driver: gcs, raylet, actors...
        cpu = lambda pids: sum(table[p][1] for p in pids if p in table)  # noqa: E731
        return {
            "machine_busy": busy,
            "machine_total": total,
            "driver": cpu([os.getpid()]),
            "workers": {pid: cpu([pid]) for pid in self.info_start},
            "ray_system": cpu(ours - set(self.info_start)),
        }

    def workers_info(self) -> list[dict]:
        return self.inner.workers_info()

    def shutdown(self) -> None:
        self.finish()
        self.inner.shutdown()


# -- driver timers -------------------------------------------------------------------------


class DriverTimers:
    """Wall time of the search loop's collaborators, by part (driver side)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    #: The loop's parts (see actsearch.search.Observer) under the names this report prints.
    PARTS = {
        "ask": "strategy ask (breed)",
        "tell": "strategy tell",
        "canonicalise": "canonicalise (sympy)",
        "genotype": "genotype text",
        "screen": "screen",
        "handle": "handle (total per proposal)",
        "record": "record (total per result)",
        "progress": "progress display (total)",
    }

    @contextlib.contextmanager
    def span(self, part: str) -> Iterator[None]:
        """The search loop's observer hook: time one part."""
        started = time.perf_counter()
        try:
            yield
        finally:
            name = self.PARTS.get(part, part)
            self.seconds[name] += time.perf_counter() - started
            self.calls[name] += 1


# -- one measured search -------------------------------------------------------------------


@dataclass
class RunFigures:
    workers: int
    evaluations: int
    proposals: dict[str, int]
    wall: float
    busy: float
    t: Timings
    mem_first: dict[int, dict]
    mem_end: dict[int, dict]
    timers: DriverTimers
    cpu: dict[str, float]
    trajectory: dict[int, list] = field(default_factory=dict)
    profile: str | None = None

    @property
    def utilisation(self) -> float:
        return self.busy / (self.wall * self.workers)

    @property
    def throughput(self) -> float:
        return self.evaluations / self.wall

    @property
    def overhead_per_eval(self) -> float:
        return (self.wall * self.workers - self.busy) / self.evaluations

    @property
    def memory_growth(self) -> tuple[float, float, float]:
        """(worst growth of peak RSS, its first MB, its last MB)."""
        worst = (float("nan"), float("nan"), float("nan"))
        for pid, first in self.mem_first.items():
            last = self.mem_end.get(pid)
            if not last:
                continue
            growth = last["max_rss_mb"] / first["max_rss_mb"] - 1
            if worst[0] != worst[0] or growth > worst[0]:
                worst = (growth, first["max_rss_mb"], last["max_rss_mb"])
        return worst


def measured_search(workers: int, args: argparse.Namespace, tmp: Path) -> RunFigures:
    from actsearch.search import SearchRequest, run_search

    request = SearchRequest(
        space="default",
        task=args.task,
        db=str(tmp / f"w{workers}.db"),
        run=f"bench-w{workers}",
        seed=args.seed,
        workers=workers,
        population=args.population,
        generations=args.generations,
        strategy="regularized",
        epochs=args.epochs,
    )
    timers = DriverTimers()  # the loop's parts, its store writes among them ("store.METHOD")
    profiler = cProfile.Profile() if args.profile and workers == max(args.workers) else None
    measured: list[MeasuredExecutor] = []

    def measure(inner: Any) -> MeasuredExecutor:
        measured.append(MeasuredExecutor(inner, profiler))
        return measured[0]

    outcome = run_search(request, observer=timers, wrap_executor=measure)
    executor = measured[0]
    t = executor.t
    wall = t.end - t.first_submit - t.excluded
    busy = sum(
        i["busy_seconds"] - executor.info_start.get(pid, {}).get("busy_seconds", 0.0)
        for pid, i in executor.info_end.items()
    )
    c0, c1 = executor.cpu_start, executor.cpu_end
    span = c1["machine_total"] - c0["machine_total"]
    workers_cpu = sum(c1["workers"][p] - c0["workers"][p] for p in c0["workers"])
    driver_cpu = c1["driver"] - c0["driver"]
    machine_busy = c1["machine_busy"] - c0["machine_busy"]
    ray_system = c1["ray_system"] - c0["ray_system"]  # processes that ended in between are missed
    cpu = {
        "cores_busy": machine_busy / span * (os.cpu_count() or 1) if span else float("nan"),
        "workers": workers_cpu,
        "driver": driver_cpu,
        "ray_system": ray_system,
        "other": machine_busy - workers_cpu - driver_cpu - ray_system,
    }
    text = None
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(35)
        text = stream.getvalue()
    return RunFigures(
        workers,
        t.results,
        outcome.counts,
        wall,
        busy,
        t,
        executor.info_first,
        executor.info_end,
        timers,
        cpu,
        dict(executor.trajectory),
        text,
    )


# -- output --------------------------------------------------------------------------------


def _ok(met: bool) -> str:
    return "yes" if met else "NO"


def print_report(runs: list[RunFigures]) -> None:
    one = next((r for r in runs if r.workers == 1), None)
    many = max(runs, key=lambda r: r.workers)
    cols = [f"{r.workers} worker{'s' if r.workers > 1 else ''}" for r in runs]
    width = 14

    def row(label: str, values: list[str], target: str = "", met: str = "") -> None:
        print(f"{label:<44}" + "".join(f"{v:>{width}}" for v in values) + f"  {target:<12}{met}")

    print()
    row("", cols, "target", "met")
    row("evaluations (trainings)", [str(r.evaluations) for r in runs])
    row(
        "proposals: evaluated/duplicate/rejected",
        [
            f"{r.proposals.get('evaluated', 0)}/{r.proposals.get('duplicate', 0)}/{r.proposals.get('rejected', 0)}"
            for r in runs
        ],
    )
    row("search-phase wall (s)", [f"{r.wall:.1f}" for r in runs])
    row("busy (training) worker-s", [f"{r.busy:.1f}" for r in runs])
    row("busy per evaluation (s)", [f"{r.busy / r.evaluations:.2f}" for r in runs])
    util = [r.utilisation for r in runs]
    row(
        "worker utilisation busy/(wall*workers)",
        [f"{u:.1%}" for u in util],
        f">= {TARGET_UTILISATION:.0%}",
        " ".join(_ok(u >= TARGET_UTILISATION) for u in util),
    )
    row("throughput (evaluations/s)", [f"{r.throughput:.3f}" for r in runs])
    if one is not None and many is not one:
        ratio = many.throughput / one.throughput
        row(
            f"throughput ratio {many.workers} vs 1 workers",
            ["", f"{ratio:.2f}x"],
            f">= {TARGET_RATIO:g}x",
            _ok(ratio >= TARGET_RATIO),
        )
        busy_ratio = (one.busy / one.evaluations) / (many.busy / many.evaluations)
        row("  ratio if trainings cost the same (busy/eval)", ["", f"{ratio / busy_ratio:.2f}x"])
    row("driver overhead (wall*W-busy)/eval (s)", [f"{r.overhead_per_eval:.3f}" for r in runs])
    row("  turnaround result->next submit /eval (s)", [f"{r.t.turnaround / r.evaluations:.3f}" for r in runs])
    row("  ray: held-busy per eval (s)", [f"{(r.t.held - r.busy) / r.evaluations:.3f}" for r in runs])
    row(
        "  ramp/drain (no trial to run) /eval (s)",
        [f"{(r.wall * r.workers - r.t.held - r.t.turnaround) / r.evaluations:.3f}" for r in runs],
    )
    row("driver time outside wait() /eval (s)", [f"{(r.wall - r.t.in_wait) / r.evaluations:.3f}" for r in runs])
    parts = sorted({k for r in runs for k in r.timers.seconds}, key=lambda k: -many.timers.seconds.get(k, 0))
    writes = [sum(v for k, v in r.timers.seconds.items() if k.startswith("store.")) for r in runs]
    row("  store writes, all /eval (ms)", [f"{1000 * w / r.evaluations:.1f}" for w, r in zip(writes, runs)])
    row(
        "  store write transactions /eval",
        [f"{sum(v for k, v in r.timers.calls.items() if k.startswith('store.')) / r.evaluations:.1f}" for r in runs],
    )
    for part in parts:
        row(f"  {part} /eval (ms)", [f"{1000 * r.timers.seconds.get(part, 0) / r.evaluations:.1f}" for r in runs])
    for r in runs:
        calls = sum(v for k, v in r.timers.calls.items() if k.startswith("store."))
        if calls:
            print(f"{'':<44}({r.workers}w: {1000 * writes[runs.index(r)] / calls:.1f} ms per write transaction)")
    row("results per wait() (mean)", [f"{statistics.fmean(r.t.batch_sizes):.2f}" for r in runs])
    row(f"CPU cores busy on the machine (of {os.cpu_count() or 1})", [f"{r.cpu['cores_busy']:.2f}" for r in runs])
    row("  workers' CPU per evaluation (s)", [f"{r.cpu['workers'] / r.evaluations:.2f}" for r in runs])
    row("  driver CPU per evaluation (ms)", [f"{1000 * r.cpu['driver'] / r.evaluations:.0f}" for r in runs])
    row("  our Ray system procs, cores (raylet, gcs..)", [f"{r.cpu['ray_system'] / r.wall:.2f}" for r in runs])
    row("  OTHER users' processes, cores", [f"{r.cpu['other'] / r.wall:.2f}" for r in runs])
    growth = [r.memory_growth for r in runs]
    row("worker peak RSS first eval (MB)", [f"{g[1]:.0f}" for g in growth])
    row("worker peak RSS last eval (MB)", [f"{g[2]:.0f}" for g in growth])
    row(
        "worker peak RSS growth (worst worker)",
        [f"{g[0]:+.1%}" for g in growth],
        f"< {TARGET_MEMORY_GROWTH:.0%}",
        " ".join(_ok(g[0] < TARGET_MEMORY_GROWTH) for g in growth),
    )
    cur = []
    for r in runs:
        vals = [(r.mem_end[p].get("rss_mb"), f.get("rss_mb")) for p, f in r.mem_first.items() if p in r.mem_end]
        vals = [(b / a - 1) for b, a in vals if a and b]
        cur.append(f"{max(vals):+.1%}" if vals else "n/a")
    row("worker current RSS growth (worst worker)", cur)
    print()
    for r in runs:
        for pid, points in r.trajectory.items():
            print(
                f"{r.workers}w worker {pid} peak RSS MB by trials done: "
                + ", ".join(f"{n}:{peak:.0f}" for n, peak, _ in points)
            )
    print()
    shared = [r for r in runs if r.cpu["other"] / r.wall > 0.1]
    if shared:
        print(
            "WARNING: other processes used "
            + ", ".join(f"{r.cpu['other'] / r.wall:.2f} cores during the {r.workers}-worker run" for r in shared)
            + f" (of {os.cpu_count()}); Ray workers run at nice 15, so they lose the CPU first and the "
            "timing figures above are pessimistic. Rerun on an idle machine."
        )
        print()
    for r in runs:
        if r.profile:
            print(f"cProfile of the driver, {r.workers} workers (cumulative):")
            print(r.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller search (smoke run)")
    parser.add_argument("--task", default="mnist1d-mlp")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the task's)")
    parser.add_argument("--population", type=int, default=None)
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        metavar="S",
        help="before each run wait up to S s for other jobs to leave the CPUs (0: don't)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the driver in the largest run")
    args = parser.parse_args()
    if args.population is None:
        args.population = 8 if args.quick else 16
    if args.generations is None:
        args.generations = 3 if args.quick else 17
    logging.basicConfig(level=logging.WARNING)

    import ray

    started = time.perf_counter()
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    print(
        f"{os.cpu_count()} CPU cores, Ray {ray.__version__}, task {args.task}, regularized "
        f"population {args.population} x {args.generations} generations + baselines, "
        f"epochs {args.epochs or 'task default'}, seed {args.seed}"
    )
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="actsearch-bench-") as tmp:
            for workers in args.workers:
                if args.wait_idle:
                    load = wait_for_idle(args.wait_idle, 0.25)
                    print(f"  machine load before the {workers}-worker run: {load:.2f} busy cores", flush=True)
                t0 = time.perf_counter()
                figures = measured_search(workers, args, Path(tmp))
                runs.append(figures)
                print(
                    f"  {workers} worker(s): {figures.evaluations} evaluations in {figures.wall:.1f} s "
                    f"(+{time.perf_counter() - t0 - figures.wall:.1f} s start-up/shutdown)",
                    flush=True,
                )
    finally:
        ray.shutdown()
    print_report(runs)
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
