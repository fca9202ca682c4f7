"""The search loop's batched writes: one transaction per batch, and a crash between batches
(the only states a killed driver can leave) resumes into the uninterrupted run.

Fake executor (no training), real SQLite store; the resume replay itself is covered by
test_search_loop.py (stops at every wait) and test_resume.py (real searches, Ctrl-C, SIGKILL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from support import ROOT, FakeExecutor
from test_search_loop import SPACE, _seeds_space, _start, _state

from actsearch.execute.worker import trained_form
from actsearch.search import Search, SearchRequest, settings_for
from actsearch.store import Store


class _Parts:
    """An Observer that counts the loop's parts and runs `on_flush` after each flush."""

    def __init__(self, on_flush=None) -> None:
        self.seen: Counter[str] = Counter()
        self.on_flush = on_flush

    @contextlib.contextmanager
    def span(self, part: str) -> Iterator[None]:
        yield
        self.seen[part] += 1
        if part == "store.flush" and self.on_flush is not None:
            self.on_flush(self.seen[part])


def _commits(store: Store) -> list[int]:
    count = [0]
    event.listen(store._engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


class _Counting(FakeExecutor):
    def __init__(self, capacity: int = 2, batch: bool = False) -> None:
        super().__init__(capacity, batch)
        self.waits = 0

    def wait(self, timeout: float | None = None) -> list:
        self.waits += 1
        return super().wait(timeout)


def test_the_loop_commits_a_batch_in_one_transaction(tmp_path: Path) -> None:
    settings = settings_for(SearchRequest(space=str(SPACE), seed=5))
    store, run = _start(tmp_path / "one.db", settings)
    commits, parts = _commits(store), _Parts()
    search = Search(settings, store, _Counting(capacity=3, batch=True), run, observer=parts)
    search.flush_seconds, search.flush_writes = 3600.0, 10**9  # never due: flushed at the end only
    search.run()
    assert parts.seen["store.flush"] == 1 and commits[0] == 2  # the batch, then the run's status

    store, run = _start(tmp_path / "rounds.db", settings)
    commits, parts, executor = _commits(store), _Parts(), _Counting(capacity=3, batch=True)
    search = Search(settings, store, executor, run, observer=parts)
    search.flush_seconds = 0.0  # due at once: a flush every round
    search.run()
    assert commits[0] == parts.seen["store.flush"] + 1 <= executor.waits + 2
    assert parts.seen["record"] > parts.seen["store.flush"] > 1  # a round's results and proposals together

    full_db = tmp_path / "default.db"
    store, run = _start(full_db, settings)
    Search(settings, store, _Counting(capacity=3, batch=True), run).run()
    assert _state(tmp_path / "one.db") == _state(tmp_path / "rounds.db") == _state(full_db)


class _Reporting(FakeExecutor):
    """Reports the form it trained, as the real workers do (`EvalResult.expr`)."""

    def result(self, trial):
        return dataclasses.replace(super().result(trial), expr=trained_form(trial.expr))


class _Synchronous(FakeExecutor):
    """Like the in-process executor: nothing ends within a timeout; notes the lock at each wait."""

    search: Search

    def __init__(self) -> None:
        super().__init__(capacity=3)
        self.blocking_with_lock = self.blocking = 0

    def wait(self, timeout: float | None = None) -> list:
        if timeout is not None:
            return []
        self.blocking += 1
        self.blocking_with_lock += self.search.writes.holds_lock
        return super().wait()


def test_the_loop_never_blocks_holding_sqlites_write_lock(tmp_path: Path) -> None:
    """Another writer of the file (a second search) waits at most for a flush window, never
    for a training: the loop flushes before any wait that a timeout does not bound."""
    settings = settings_for(SearchRequest(space=str(SPACE), seed=5))
    store, run = _start(tmp_path / "lock.db", settings)
    executor = _Synchronous()
    search = executor.search = Search(settings, store, executor, run)
    search.flush_seconds = 3600.0  # never due by age: only the waits flush
    search.run()
    assert executor.blocking > 10 and executor.blocking_with_lock == 0
    full_db = tmp_path / "full.db"
    store, run = _start(full_db, settings)
    Search(settings, store, FakeExecutor(capacity=3), run).run()
    assert _state(tmp_path / "lock.db") == _state(full_db)


def _copy(db: Path, to: Path) -> None:
    """A consistent copy of a live SQLite database (its WAL included)."""
    with sqlite3.connect(db) as source, sqlite3.connect(to) as target:
        source.backup(target)


@pytest.mark.parametrize(("seeds", "executor"), [(1, FakeExecutor), (2, FakeExecutor), (2, _Reporting)])
def test_a_crash_after_any_flush_resumes_into_the_uninterrupted_run(tmp_path: Path, seeds: int, executor) -> None:
    """The store after each flush is all that a kill -9 can leave (a flush is one transaction):
    resumed from each of them, the run ends exactly as the uninterrupted one (with the
    trained forms the workers report, too)."""
    space = _seeds_space(tmp_path) if seeds == 2 else SPACE
    settings = settings_for(SearchRequest(space=str(space), seed=5))
    full_db = tmp_path / "full.db"
    store, run = _start(full_db, settings)
    snapshots: list[Path] = []

    def snapshot(n: int) -> None:
        snapshots.append(tmp_path / f"flush-{n}.db")
        _copy(full_db, snapshots[-1])

    search = Search(settings, store, executor(), run, observer=_Parts(snapshot))
    search.flush_seconds, search.flush_writes = 3600.0, 7  # a batch every few writes
    search.run()
    trained = store.candidates(run.id, statuses=("evaluated", "failed"))
    store.close()
    assert len(snapshots) > 5
    if executor is _Reporting:  # the stored form is the one trained: canonical
        assert all(c.expr == trained_form(c.expr) for c in trained)
    expected = _state(full_db)
    for snap in snapshots:
        store = Store.open(snap)
        run = store.find_run("r")
        assert run is not None and run.status == "running"
        search = Search(settings, store, executor(), run)
        search.flush_seconds, search.flush_writes = 3600.0, 7
        search.run()
        store.close()
        assert _state(snap) == expected, snap.name  # same candidates, fitness, each training stored once


DRIVER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from support import FakeExecutor
from actsearch.execute.worker import trained_form
from actsearch.search import Search, SearchRequest, settings_for
from actsearch.store import Store

db, mode = sys.argv[2], sys.argv[3]

class Slow(FakeExecutor):
    def wait(self, timeout=None):
        time.sleep(0.004)  # trainings take a little time: the kill lands mid-run
        return super().wait(timeout)

settings = settings_for(SearchRequest(space="default", seed=3, trainings=160, reevaluate_top=0))
store = Store.open(db)
if mode == "start":
    run = store.create_run("r", task=settings.task_label, space=settings.space.name, seed=3,
                           config=settings.to_config())
else:
    run = store.set_run_status(store.find_run("r").id, "running")  # what --resume does
search = Search(settings, store, Slow(capacity=4), run)
search.flush_writes = 25  # many batches
search.run()
print("done")
"""


def _driver(db: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(ROOT / "tests"), str(db), mode],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stored_results(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("select count(*) from evaluations where not is_partial").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


@pytest.mark.long  # a real driver subprocess killed and resumed: in `make test-long`
@pytest.mark.timeout(300)
def test_a_driver_killed_between_batches_resumes_into_the_uninterrupted_run(tmp_path: Path) -> None:
    full_db, killed_db = tmp_path / "full.db", tmp_path / "killed.db"
    full = _driver(full_db, "start")
    killed = _driver(killed_db, "start")
    deadline = time.monotonic() + 200
    while _stored_results(killed_db) < 60:
        assert killed.poll() is None, killed.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    out, err = full.communicate(timeout=200)
    assert full.returncode == 0, err[-2000:]
    stopped = _state(killed_db)
    assert stopped["status"] == "running" and sum(stopped["trained"].values()) < sum(
        _state(full_db)["trained"].values()
    )

    resumed = _driver(killed_db, "resume")
    out, err = resumed.communicate(timeout=200)
    assert resumed.returncode == 0, err[-2000:]
    after = _state(killed_db)
    assert after == _state(full_db)  # same candidates and fitness, every training stored once
    assert set(after["trained"].values()) == {1}
    shutil.rmtree(tmp_path, ignore_errors=True)
