"""Helpers the tests import (the fixtures themselves live in conftest.py).

- `run_cli`: the `actsearch` command in a fresh process, as a user runs it;
- the store backends (`Backend`, `backend_params`), `result` and `populate`
  for the store conformance suite;
- `FakeExecutor`: the executor protocol without training, so that the search
  loop's tests run in a blink.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import uuid
from collections import deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actsearch.execute import Trial
from actsearch.results import EvalResult, Partial
from actsearch.store import Store

PG_ENV = "ACTSEARCH_TEST_PG_URL"
REPO = ROOT = Path(__file__).resolve().parents[1]
TINY_SPACE = ROOT / "tests" / "data" / "tiny.yaml"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m actsearch ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "actsearch", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def backend_params() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get(PG_ENV) or in_ci():
        backends.append("postgresql")
    return backends


@dataclass
class Backend:
    kind: str
    url: str
    _stores: list[Store] = field(default_factory=list)
    _engines: list = field(default_factory=list)

    def open(self, **kwargs) -> Store:
        store = Store.open(self.url, **kwargs)
        self._stores.append(store)
        return store

    def engine(self):
        """A plain SQLAlchemy engine on the same database (for raw SQL in tests)."""
        from sqlalchemy import create_engine

        from actsearch.store.schema import resolve_url

        engine = create_engine(resolve_url(self.url))
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for store in self._stores:
            store.close()
        for engine in self._engines:
            engine.dispose()


def pg_url_for_schema(base: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_pg_schema(base: str) -> Iterator[str]:
    """The URL of a new, empty schema on the server at `base`, dropped afterwards.

    The test server outlives a run (tests/postgres.sh reuses it), so a test that wrote
    to its default schema would meet the tables of an earlier run, even of another
    actsearch version: CI once failed on a schema revision left there by a newer one."""
    from sqlalchemy import create_engine, text

    from actsearch.store.schema import resolve_url

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(resolve_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield pg_url_for_schema(base, schema)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def result(
    fitness: float | None = 0.5,
    *,
    status: str = "ok",
    partials: tuple[Partial, ...] = (),
    error: str | None = None,
    val_loss: float | None = 1.0,
) -> EvalResult:
    return EvalResult(
        status=status,
        fitness=fitness,
        val_accuracy=fitness,
        val_loss=val_loss,
        train_seconds=1.5,
        epochs=5,
        steps=50,
        batch_size=32,
        error=error,
        worker="w1",
        partials=partials,
    )


def populate(store: Store) -> dict[str, int]:
    """A small, realistic database: two runs, baselines, lineage, rejections, duplicates."""
    ids: dict[str, int] = {}
    demo = store.create_run(
        "demo", task="mnist1d", space="search_spaces/small.yaml", seed=1, config={"generations": 3, "population": 4}
    )
    other = store.create_run("other", task="mnist1d", space="small", seed=2, config={})
    ids["demo"], ids["other"] = demo.id, other.id

    def cand(
        run,
        key,
        expr,
        fp,
        gen,
        origin,
        parents=(),
        status="queued",
        baseline=False,
        reason=None,
        equivalent_to=None,
        complexity=None,
    ):
        c = store.add_candidate(
            run,
            expr=expr,
            fingerprint=fp,
            complexity=complexity or len(expr),
            generation=gen,
            parents=[ids[p] for p in parents],
            origin=origin,
            is_baseline=baseline,
            status=status,
            reason=reason,
            equivalent_to=equivalent_to,
        )
        ids[key] = c.id
        return c

    def train(key, accs, task="mnist1d", partial=True):
        for seed, acc in enumerate(accs):
            parts = (Partial(1, acc / 2, 2.0), Partial(3, acc * 0.9, 1.2)) if partial else ()
            store.add_evaluation(ids[key], task=task, seed=seed, planned_epochs=5, result=result(acc, partials=parts))
        mean = sum(accs) / len(accs)
        store.finish_candidate(ids[key], fitness=mean, fitness_std=max(accs) - min(accs), status="evaluated")

    d = ids["demo"]
    cand(d, "relu", "max(x, 0)", "fp-relu", 0, "baseline", baseline=True)
    train("relu", [0.70, 0.72])
    cand(d, "a", "x * sigmoid(x)", "fp-swish", 0, "init")
    train("a", [0.80, 0.84])
    cand(d, "b", "tanh(x)", "fp-tanh", 0, "init")
    train("b", [0.60, 0.62])
    cand(d, "c", "x * sigmoid(1.5 * x)", "fp-c", 1, "mutation:point", parents=["a"])
    train("c", [0.86, 0.88])
    cand(d, "d", "tanh(x) * sigmoid(1.5 * x)", "fp-d", 2, "crossover", parents=["c", "b"])
    train("d", [0.90, 0.92])
    cand(
        d,
        "dup",
        "sigmoid(x) * x",
        "fp-swish",
        1,
        "mutation:swap",
        parents=["a"],
        status="duplicate",
        equivalent_to=ids["a"],
    )
    cand(d, "r1", "log(x)", "fp-log", 1, "mutation:point", parents=["b"], status="rejected", reason="non-finite output")
    cand(
        d,
        "r2",
        "exp(exp(x))",
        "fp-expexp",
        1,
        "mutation:point",
        parents=["b"],
        status="rejected",
        reason="non-finite output",
    )
    cand(d, "r3", "x - x + 1", "fp-const", 1, "mutation:point", parents=["a"], status="rejected", reason="constant")
    cand(d, "f1", "x ** 9", "fp-x9", 2, "mutation:point", parents=["c"], status="failed", reason="NaN loss")
    store.add_evaluation(
        ids["f1"],
        task="mnist1d",
        seed=0,
        planned_epochs=5,
        result=result(None, status="failed", error="NaN loss", val_loss=float("nan")),
    )
    cand(d, "q", "x * tanh(x)", "fp-q", 2, "mutation:point", parents=["d"], status="queued")

    o = ids["other"]
    cand(o, "o-relu", "max(x, 0)", "fp-relu", 0, "baseline", baseline=True)
    train("o-relu", [0.71])
    cand(o, "o-a", "x * sigmoid(2 * x)", "fp-oa", 0, "user")
    train("o-a", [0.95], partial=False)
    cand(o, "o-r", "1 / x", "fp-inv", 0, "init", status="rejected", reason="non-finite output")
    store.set_run_status(ids["other"], "finished")
    return ids


class FakeExecutor:
    """The executor protocol without training: a trial's fitness is a fixed
    function of its activation's outputs and seed, computed with numpy.

    `capacity` trials run at once; `wait()` returns the oldest one (or,
    with `batch`, all of them), so results come back in submission order and
    every run is deterministic. An activation whose outputs are not finite on
    the probe points fails, like a NaN loss; a rung stops the candidates
    whose reading there is below its threshold.
    """

    PROBE = np.linspace(-3.0, 3.0, 61)

    def __init__(self, capacity: int = 2, batch: bool = False) -> None:
        self.workers = self.capacity = capacity
        self.batch = batch
        self.running: deque[Trial] = deque()
        self.submitted: list[Trial] = []

    @property
    def in_flight(self) -> int:
        return len(self.running)

    def submit(self, trial: Trial) -> None:
        self.running.append(trial)
        self.submitted.append(trial)

    def wait(self, timeout: float | None = None) -> list[tuple[Trial, EvalResult]]:
        count = len(self.running) if self.batch else min(1, len(self.running))
        return [(trial, self.result(trial)) for trial in (self.running.popleft() for _ in range(count))]

    @classmethod
    def fitness(cls, expr: str, seed: int) -> float | None:
        from actsearch.expr import Activation

        with np.errstate(all="ignore"):
            y = np.asarray(Activation.parse(expr).numpy(cls.PROBE), dtype=float)
        if not np.all(np.isfinite(y)):
            return None
        # higher for activations close to relu's shape, a little noise per seed
        return float(1.0 / (1.0 + np.mean((y - np.maximum(cls.PROBE, 0)) ** 2)) + 0.001 * seed)

    @staticmethod
    def learned(trial: Trial) -> tuple[float, ...] | None:
        """An exact (Lamarckian) trial's constants after its fake training: each moved a
        little, by an amount that depends on the seed."""
        from actsearch.expr import Activation, parse

        if not trial.exact:
            return None
        return tuple(0.9 * p + 0.01 * (1 + trial.seed % 3) for p in Activation.exact(parse(trial.expr)).parameters)

    def result(self, trial: Trial) -> EvalResult:
        fitness = self.fitness(trial.expr, trial.seed)
        epochs = trial.epochs or 3
        if fitness is None:
            return EvalResult.failed("non-finite training loss", epochs=1, steps=1, batch_size=8)
        partials: tuple[Partial, ...] = ()
        for i, (at, threshold) in enumerate(trial.rungs):  # the reading nears the final fitness rung by rung
            early = fitness * (0.9 + 0.05 * i)
            partials = (*partials, Partial(at, early, 1.0, fitness=early))
            if early < threshold and not math.isinf(threshold):
                learned = self.learned(trial)
                return EvalResult("stopped", early, early, 1.0, 0.01, at, at, 8, partials=partials, learned=learned)
        learned = self.learned(trial)
        return EvalResult(
            "ok", fitness, fitness, 1.0, 0.01, epochs, epochs, 8, worker="fake", partials=partials, learned=learned
        )

    def workers_info(self) -> list[dict]:
        return []

    def shutdown(self) -> None:
        self.running.clear()


class StopAfter:
    """An executor stopped (as by Ctrl-C) after `results` results, in the middle of a batch."""

    def __init__(self, executor, results: int) -> None:
        self.executor, self.left, self.capacity = executor, results, executor.capacity
        self.workers = executor.workers

    @property
    def in_flight(self) -> int:
        return self.executor.in_flight

    def submit(self, trial) -> None:
        self.executor.submit(trial)

    def wait(self, timeout=None):
        if self.left <= 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.executor.wait(timeout)

    def shutdown(self) -> None:
        self.executor.shutdown()


#: a task's data splits, in the order their bytes are hashed
SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def task_digest(name: str) -> str:
    """A hash of a built-in task's data (every split's dtype, shape and bytes)."""
    from actsearch.tasks import get_task

    data = get_task(name).get_data()
    h = hashlib.sha256()
    for split in SPLITS:
        a = getattr(data, split)
        h.update(f"{split}{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# -- the processes of a Ray that a test started (and only those) ------------------------


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    group: int
    started: int  # clock ticks after boot: with the pid, names one process even if the pid is reused
    cmdline: str


def processes() -> dict[int, Process]:
    """Every process we can read, by pid (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = Process(int(entry.name), int(fields[1]), int(fields[2]), int(fields[19]), cmdline)
    return table


def family(roots: Collection[int] = (), groups: Collection[int] = (), marker: str | None = None) -> dict[int, Process]:
    """The processes `roots`, those in process groups `groups` or whose command line names
    `marker` (a test's own temp dir), and every process they started."""
    table = processes()
    found = {p for p in table.values() if p.pid in roots or p.group in groups or (marker and marker in p.cmdline)}
    pids = {p.pid for p in found} - {os.getpid()}
    grew = True
    while grew:
        children = {p.pid for p in table.values() if p.parent in pids} - pids - {os.getpid()}
        pids |= children
        grew = bool(children)
    return {pid: table[pid] for pid in pids}


def kill_processes(known: dict[int, Process], timeout: float = 30) -> None:
    """SIGKILL the processes of `known` that still run (same pid and start time), until none is left."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = processes()
        alive = [p.pid for p in known.values() if p.pid in table and table[p.pid].started == p.started]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.3)
