"""Driver scale benchmark: the real search loop fed by a simulated cluster (issue 21).

    python benchmarks/scale.py                                 # N = 64, 256, 1024 workers, SQLite (+ PostgreSQL)
    python benchmarks/scale.py --against HEAD~5                # and the same on a git revision, side by side
    python benchmarks/scale.py --workers 1024 --results 20000 --db postgresql
    python benchmarks/scale.py --ray-calls 0 --out runs/scale  # no Ray part; JSON in runs/scale/

What runs is the real thing on the driver's side: `Search` (the space's strategy, screening,
the fingerprint dedupe, the surrogate when there is one, the store: a fresh SQLite file, or a
fresh schema on the PostgreSQL server named by `--pg` or ACTSEARCH_TEST_PG_URL). Only the
executor is simulated: `SimulatedCluster`, N virtual workers whose trainings take
`--train-seconds` (x 0.5 .. 1.5, fixed per trial) of *virtual* time and return a synthetic
result computed from the expression and the seed (a hash: deterministic, about 2% failed).
The virtual clock runs with the driver's own wall time; when the driver waits for a result
that is not due yet, the clock jumps to it instead of sleeping (and a `wait(timeout)` that
would time out jumps by the timeout and returns nothing, as the Ray executor does). So the
figures are the driver's: nothing sleeps, and the cluster offers N / train-seconds results
a second.

Each configuration (code, backend, N) runs in a fresh process (cold caches, the revision's
own code for `--against`) until `--results` results were handed to the loop; the first
results (`--warmup`, default a fifth) are left out of the figures, and with them the ramp
(the N proposals that fill the cluster at the start), so that they are those of the steady
state, where every result brings the proposals that refill its worker. Reported:

- results/s: results per second of virtual time (what the driver sustains at the offered
  load); driver max: results per second of the driver's wall time (what it could sustain
  if the cluster were faster); proposals/s;
- driver CPU per result (`time.process_time` of the driver process), and the CPU of its
  helper processes (sympy runs in `actsearch.expr.bounded` helpers) per result;
- store: write transactions per result (SQLAlchemy `commit` events), ms per transaction and
  store ms per result (the loop's `store.*` spans, wall time);
- the per-result cost split by part (the loop's Observer spans, wall time: the driver does
  not wait inside them but in the store's flush; parts nest: `handle` includes
  `canonicalise`, `screen`, `store.add_candidate` ...);
- whether every result returned was stored exactly once.

Plus Ray's own per-call overhead with light actors on this machine (`--ray-actors`,
`--ray-calls`): a no-op method taking a trial and returning a result, one call at a time
(latency), with every actor kept busy as the Ray executor does (throughput), and the cost
of collecting 1,024 finished calls with one `ray.wait` over all the pending ones per
result, as `RayExecutor.wait` does with 1,024 workers busy.

Figures are printed, never asserted (docs/performance.md records them).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "ACTSEARCH_TEST_PG_URL"


# -- the child: one configuration ---------------------------------------------------------


class Enough(Exception):
    """The simulated cluster handed out the results asked for: the measurement ends."""


class VirtualClock:
    """The driver's wall time plus the waits it skipped."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.skipped = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.start + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


def _hash(text: str) -> int:
    return zlib.crc32(text.encode())


class SimulatedCluster:
    """The executor protocol over N virtual workers; results are synthetic and deterministic."""

    def __init__(self, workers: int, train_seconds: float, results: int, warmup: int, on_warm: Any) -> None:
        from dataclasses import fields

        from actsearch.results import EvalResult

        self.workers = self.capacity = workers
        self.train_seconds = train_seconds
        self.limit = results
        self.warmup = warmup
        self.on_warm = on_warm
        self.warm = False
        self.clock = VirtualClock()
        self.heap: list[tuple[float, int, Any]] = []
        self.seq = 0
        self.returned = 0
        self.waits = 0
        self.empty_waits = 0
        self.result_type = EvalResult
        # a worker reports the form it trained (when the protocol has the field): simulated as the
        # text sent in parentheses, a different text, so that the loop stores it as with real workers
        self.reports_expr = "expr" in {f.name for f in fields(EvalResult)}

    @property
    def in_flight(self) -> int:
        return len(self.heap)

    def submit(self, trial: Any) -> None:
        if len(self.heap) >= self.capacity:
            raise RuntimeError("simulated cluster full")
        spread = 0.5 + (_hash(f"{trial.expr}|{trial.seed}|t") % 1000) / 1000
        self.seq += 1
        heapq.heappush(self.heap, (self.clock.now() + self.train_seconds * spread, self.seq, trial))

    def wait(self, timeout: float | None = None) -> list:
        if not self.warm and self.returned >= self.warmup:  # the loop has processed the first results
            self.warm = True
            self.on_warm()
        if self.returned >= self.limit:
            raise Enough
        self.waits += 1
        if not self.heap:
            return []
        now = self.clock.now()
        due = self.heap[0][0]
        if due > now:
            if timeout is not None and due > now + timeout:
                self.clock.skip(timeout)
                self.empty_waits += 1
                return []
            self.clock.skip(due - now)
            now = due
        out = []
        while self.heap and self.heap[0][0] <= now and self.returned + len(out) < self.limit:
            out.append(heapq.heappop(self.heap)[2])
        self.returned += len(out)
        return [(trial, self.result(trial)) for trial in out]

    def result(self, trial: Any) -> Any:
        h = _hash(f"{trial.expr}|{trial.seed}")
        epochs = trial.epochs or 5
        extra = {"expr": f"({trial.expr})"} if self.reports_expr else {}
        if h % 50 == 0:
            failed = self.result_type.failed("non-finite training loss", epochs=1, steps=1, batch_size=32)
            return replace(failed, **extra)
        fitness = 0.5 + 0.45 * (h % 10007) / 10007
        return self.result_type(
            "ok", fitness, fitness, 1.0, self.train_seconds, epochs, epochs * 10, 32, worker="sim", **extra
        )

    def workers_info(self) -> list[dict]:
        return []

    def shutdown(self) -> None:
        self.heap.clear()


class _Span:
    __slots__ = ("timing", "part", "wall")

    def __init__(self, timing: Timing, part: str) -> None:
        self.timing, self.part = timing, part

    def __enter__(self) -> None:
        self.wall = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        t = self.timing
        t.wall[self.part] += time.perf_counter() - self.wall
        t.count[self.part] += 1


class Timing:
    """The loop's Observer: wall seconds and calls per part (the driver's parts do not wait,
    but for the store's writes, so their wall time is their CPU time; one clock read per
    edge keeps the observer's own cost low)."""

    def __init__(self) -> None:
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()

    def span(self, part: str) -> _Span:
        return _Span(self, part)

    def snapshot(self) -> dict[str, Any]:
        return {"wall": dict(self.wall), "count": dict(self.count)}


_CLK = os.sysconf("SC_CLK_TCK")


def _descendants_cpu(root: int) -> float:
    """CPU seconds of every living descendant of `root` (the sympy helpers)."""
    table: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK)
    children: defaultdict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    total, todo = 0.0, list(children[root])
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        todo.extend(children[pid])
    return total


def _pg_schema(base: str) -> tuple[str, Any]:
    """A URL on a fresh schema of the server at `base`, and the function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from actsearch.store.schema import resolve_url

    schema = "scale_" + uuid.uuid4().hex[:10]
    admin = create_engine(resolve_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), drop


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """One configuration, in this process: returns the figures as plain data."""
    import logging

    from sqlalchemy import event, func, select
    from sqlalchemy.engine import Engine

    from actsearch.expr import Activation
    from actsearch.search import Search, SearchRequest, settings_for
    from actsearch.store import Store

    logging.disable(logging.WARNING)
    workers, results = config["workers"], config["results"]
    warmup = min(config.get("warmup") or results // 5, results // 2)
    request = SearchRequest(
        space=config["space"],
        seed=config["seed"],
        strategy=config.get("strategy"),
        trainings=10 * (results + workers) + 1000,  # never spent: the cluster ends the run
        reevaluate_top=0,
    )
    settings = settings_for(request)
    Activation.parse("x * sigmoid(x)")  # starts the sympy helper before the clock does
    tmp = tempfile.mkdtemp(prefix="scale-")
    drop = None
    if config["db"] == "sqlite":
        url = str(Path(tmp) / "scale.db")
    else:
        url, drop = _pg_schema(config["pg"])
    store = Store.open(url)
    commits = [0]
    event.listen(Engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    run = store.create_run(
        "scale", task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )
    timing = Timing()
    marks: dict[str, dict[str, Any]] = {}
    me = os.getpid()

    def mark(name: str) -> None:
        marks[name] = {
            "wall": time.perf_counter(),
            "cpu": time.process_time(),
            "virtual": cluster.clock.now(),
            "helpers": _descendants_cpu(me),
            "commits": commits[0],
            "results": cluster.returned,
            "spans": timing.snapshot(),
        }

    cluster = SimulatedCluster(workers, config["train_seconds"], results, warmup, lambda: mark("warm"))
    search = Search(settings, store, cluster, run, observer=timing)
    mark("start")
    try:
        search.run()
    except Enough:
        pass
    mark("end")
    with store.read_session() as s:  # every result stored once?
        from actsearch.store.models import Candidate, Evaluation

        finals = (
            select(Evaluation.candidate_id, Evaluation.task, Evaluation.seed)
            .join(Candidate, Candidate.id == Evaluation.candidate_id)
            .where(Candidate.run_id == run.id, Evaluation.is_partial.is_(False))
        )
        stored = s.scalar(select(func.count()).select_from(finals.subquery()))
        distinct = s.scalar(select(func.count()).select_from(finals.distinct().subquery()))
    store.close()
    if drop is not None:
        drop()

    a, b = marks.get("warm", marks["start"]), marks["end"]
    n = b["results"] - a["results"]
    spans_a, spans_b = a["spans"], b["spans"]

    def delta(kind: str, part: str) -> float:
        return spans_b[kind].get(part, 0.0) - spans_a[kind].get(part, 0.0)

    parts = sorted(set(spans_b["wall"]), key=lambda p: -delta("wall", p))
    store_parts = [p for p in parts if p.startswith("store.")]
    store_wall = sum(delta("wall", p) for p in store_parts)
    commits_n = b["commits"] - a["commits"]
    proposals = delta("count", "handle")
    wall = b["wall"] - a["wall"]
    virtual = b["virtual"] - a["virtual"]
    cpu = b["cpu"] - a["cpu"]
    return {
        **{k: config[k] for k in ("code", "db", "workers", "results", "train_seconds", "space", "seed")},
        "strategy": settings.space.evolution.strategy,
        "window_results": n,
        "offered_per_s": workers / config["train_seconds"],
        "results_per_s": n / virtual if virtual else None,
        "driver_max_per_s": n / wall if wall else None,
        "proposals_per_s": proposals / virtual if virtual else None,
        "proposals_per_result": proposals / n if n else None,
        "cpu_ms_per_result": 1000 * cpu / n if n else None,
        "helper_cpu_ms_per_result": 1000 * (b["helpers"] - a["helpers"]) / n if n else None,
        "transactions_per_result": commits_n / n if n else None,
        "ms_per_transaction": 1000 * store_wall / commits_n if commits_n else None,
        "store_ms_per_result": 1000 * store_wall / n if n else None,
        "waits": cluster.waits,
        "empty_waits": cluster.empty_waits,
        "returned": cluster.returned,
        "stored": stored,
        "stored_once": stored == distinct == cluster.returned,
        "parts": {
            p: {
                "calls_per_result": delta("count", p) / n,
                "ms_per_result": 1000 * delta("wall", p) / n,
                "us_per_call": 1e6 * delta("wall", p) / delta("count", p) if delta("count", p) else None,
            }
            for p in parts
        }
        if n
        else {},
        "wall_seconds": b["wall"] - marks["start"]["wall"],
    }


# -- Ray's own overhead ------------------------------------------------------------------


def ray_overhead(actors: int, calls: int, pending: int = 1024) -> dict[str, Any]:
    """Seconds per remote call of a no-op actor method (a Trial in, a result out)."""
    import logging

    import ray

    from actsearch.execute import Trial
    from actsearch.results import EvalResult

    @ray.remote(num_cpus=0)
    class Noop:
        def run(self, trial: Trial) -> EvalResult:
            return EvalResult("ok", 0.5, 0.5, 1.0, 0.0, 1, 1, 32, worker="noop")

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        pool = [Noop.remote() for _ in range(actors)]
        trial = Trial(1, 1, "x * sigmoid(x)", 0, epochs=5, task="mnist1d-mlp")
        ray.get([a.run.remote(trial) for a in pool for _ in range(20)])  # warm
        sequential = max(1, calls // 4)
        w, c = time.perf_counter(), time.process_time()
        for i in range(sequential):
            ray.get(pool[i % actors].run.remote(trial))
        seq_wall, seq_cpu = time.perf_counter() - w, time.process_time() - c
        # every actor kept busy, one ray.wait per result: what RayExecutor does
        w, c = time.perf_counter(), time.process_time()
        running = {a.run.remote(trial): a for a in pool}
        done = 0
        while done < calls:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                ray.get(ref)
                done += 1
                actor = running.pop(ref)
                if done + len(running) < calls:
                    running[actor.run.remote(trial)] = actor
        busy_wall, busy_cpu = time.perf_counter() - w, time.process_time() - c
        # `pending` calls out at once, collected one ray.wait over all that remain at a time:
        # what RayExecutor.wait does with N workers busy (the list it waits on has N refs)
        remaining = [pool[i % actors].run.remote(trial) for i in range(pending)]
        ray.wait(remaining, num_returns=len(remaining))  # all done: only the collecting is timed
        w, c = time.perf_counter(), time.process_time()
        while remaining:
            ready, remaining = ray.wait(remaining, num_returns=1)
            ray.get(ready)
        drain_wall, drain_cpu = time.perf_counter() - w, time.process_time() - c
    finally:
        ray.shutdown()
    return {
        "actors": actors,
        "sequential_calls": sequential,
        "sequential_ms_per_call": 1000 * seq_wall / sequential,
        "sequential_driver_cpu_ms_per_call": 1000 * seq_cpu / sequential,
        "pipelined_calls": calls,
        "pipelined_calls_per_s": calls / busy_wall,
        "pipelined_ms_per_call": 1000 * busy_wall / calls,
        "pipelined_driver_cpu_ms_per_call": 1000 * busy_cpu / calls,
        "pending": pending,
        "wait_over_pending_ms_per_result": 1000 * drain_wall / pending,
        "wait_over_pending_driver_cpu_ms_per_result": 1000 * drain_cpu / pending,
    }


# -- the parent: every configuration, side by side -----------------------------------------


def _code_root(rev: str, into: Path) -> Path:
    """The package of git revision `rev`, extracted under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev, "actsearch"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _run_child(root: Path, config: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config), "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"configuration {config} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:,.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        "| code | db | N | offered/s | results/s | driver max/s | proposals/s | CPU ms/result | "
        "helpers ms/result | tx/result | ms/tx | store ms/result | stored once |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print(
            f"| {r['code']} | {r['db']} | {r['workers']} | {_fmt(r['offered_per_s'])} | {_fmt(r['results_per_s'])} | "
            f"{_fmt(r['driver_max_per_s'])} | {_fmt(r['proposals_per_s'])} | {_fmt(r['cpu_ms_per_result'], 3)} | "
            f"{_fmt(r['helper_cpu_ms_per_result'], 3)} | {_fmt(r['transactions_per_result'], 3)} | "
            f"{_fmt(r['ms_per_transaction'], 3)} | {_fmt(r['store_ms_per_result'], 3)} | {_fmt(r['stored_once'])} |"
        )


def print_parts(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        shown = [(p, v) for p, v in r["parts"].items() if v["ms_per_result"] >= 0.005][:14]
        text = ", ".join(f"{p} {v['ms_per_result']:.3f}" for p, v in shown)
        print(f"  {r['code']} {r['db']} N={r['workers']}: ms per result by part (nested): {text}")


def print_ratios(rows: list[dict[str, Any]]) -> None:
    codes = list(dict.fromkeys(r["code"] for r in rows))
    if len(codes) < 2:
        return
    before, after = codes[0], codes[-1]
    by = {(r["code"], r["db"], r["workers"]): r for r in rows}
    print(f"\n{after} against {before}:")
    for (code, db, n), r in by.items():
        ref = by.get((before, db, n))
        if code != after or ref is None:
            continue
        speed = r["driver_max_per_s"] / ref["driver_max_per_s"] if ref["driver_max_per_s"] else None
        cpu = ref["cpu_ms_per_result"] / r["cpu_ms_per_result"] if r["cpu_ms_per_result"] else None
        print(f"  {db} N={n}: driver max results/s x{_fmt(speed, 1)}, CPU per result / {_fmt(cpu, 1)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--results", type=int, default=4000, help="results per configuration (first wave included)")
    parser.add_argument("--warmup", type=int, default=0, help="results left out at the start (default: a fifth)")
    parser.add_argument("--train-seconds", type=float, default=0.25, help="virtual seconds of one training")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--pg", default=os.environ.get(PG_ENV), help=f"PostgreSQL URL (default: ${PG_ENV})")
    parser.add_argument("--space", default="default")
    parser.add_argument("--strategy", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="also measure git revision REV (first, as 'before')")
    parser.add_argument("--against-results", type=int, default=0, help="results per configuration for REV")
    parser.add_argument("--ray-actors", type=int, default=8)
    parser.add_argument("--ray-calls", type=int, default=2000, help="0: leave the Ray part out")
    parser.add_argument("--out", type=Path, help="directory for results.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        sys.path.insert(0, args.root)
        print(json.dumps(measure(json.loads(args.child))))
        return

    dbs = [db for db in args.db if db == "sqlite" or args.pg]
    if "postgresql" in args.db and not args.pg:
        print(f"no PostgreSQL: give --pg URL or set {PG_ENV} (source tests/postgres.sh)", file=sys.stderr)
    sides: list[tuple[str, Path, int]] = []
    with tempfile.TemporaryDirectory(prefix="scale-code-") as tmp:
        if args.against:
            rev = subprocess.run(
                ["git", "rev-parse", "--short", args.against], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
            sides.append((rev, _code_root(args.against, Path(tmp) / rev), args.against_results or args.results))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "actsearch"], cwd=ROOT, capture_output=True, text=True)
        sides.append((head.stdout.strip() + ("+" if dirty.stdout.strip() else ""), ROOT, args.results))
        rows = []
        for db in dbs:
            for n in args.workers:
                for code, root, results in sides:  # alternating: a load change hits both sides alike
                    config = {
                        "code": code,
                        "db": db,
                        "pg": args.pg,
                        "workers": n,
                        "results": results,
                        "warmup": args.warmup,
                        "train_seconds": args.train_seconds,
                        "space": args.space,
                        "strategy": args.strategy,
                        "seed": args.seed,
                    }
                    row = _run_child(root, config)
                    rows.append(row)
                    print(
                        f"{code} {db} N={n}: {_fmt(row['results_per_s'])} results/s "
                        f"(driver max {_fmt(row['driver_max_per_s'])}), {_fmt(row['cpu_ms_per_result'], 3)} ms CPU "
                        f"per result, {row['wall_seconds']:.0f} s",
                        flush=True,
                    )
    print()
    print_table(rows)
    print()
    print_parts(rows)
    print_ratios(rows)
    ray_row = None
    if args.ray_calls:
        ray_row = ray_overhead(args.ray_actors, args.ray_calls)
        print(
            f"\nRay, {ray_row['actors']} no-op actors on this machine: {ray_row['sequential_ms_per_call']:.3f} ms per "
            f"call one at a time ({ray_row['sequential_driver_cpu_ms_per_call']:.3f} ms driver CPU); "
            f"{ray_row['pipelined_calls_per_s']:,.0f} calls/s with every actor busy "
            f"({ray_row['pipelined_ms_per_call']:.3f} ms per call, "
            f"{ray_row['pipelined_driver_cpu_ms_per_call']:.3f} ms driver CPU); collecting "
            f"{ray_row['pending']:,} finished calls one ray.wait over all that remain at a time: "
            f"{ray_row['wait_over_pending_ms_per_result']:.3f} ms per result "
            f"({ray_row['wait_over_pending_driver_cpu_ms_per_result']:.3f} ms driver CPU)"
        )
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        summary = {"rows": rows, "ray": ray_row, "args": {k: str(v) for k, v in vars(args).items()}, "load": load}
        (args.out / "results.json").write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.out / 'results.json'}")
    if rows and any(not r["stored_once"] for r in rows):
        print("some results were not stored exactly once (see 'stored once')", file=sys.stderr)


if __name__ == "__main__":
    main()
