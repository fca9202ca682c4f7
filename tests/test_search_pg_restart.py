"""A PostgreSQL restart in the middle of a search: the writes are retried, nothing is lost
or written twice; a server that stays away ends the search in one line.

The test restarts a private server (tests/postgres.sh with its own data directory and
port), never the shared test server other tests use at the same time.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from support import ROOT, FakeExecutor, in_ci, result

from actsearch.search import Search, SearchRequest, settings_for
from actsearch.store import Store, StoreError

pytestmark = [pytest.mark.slow, pytest.mark.long]  # long: `make test-long` (a server started and restarted)


def _pg_ctl() -> str | None:
    found = shutil.which("pg_ctl")
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return found or (versions[-1] if versions else None)


@pytest.fixture(scope="module")
def server() -> Iterator[dict]:
    """A private PostgreSQL server: its URL and a function running pg_ctl on it."""
    pg_ctl = _pg_ctl()
    datadir = Path(f"/tmp/actsearch-pg-restart-{uuid.uuid4().hex[:8]}")  # in /tmp: the postgres user reaches it
    env = {**os.environ, "ACTSEARCH_PG_DIR": str(datadir), "ACTSEARCH_PG_URL_FILE": ""}
    env.pop("ACTSEARCH_PG_PORT", None)
    started = None
    if pg_ctl is not None:
        started = subprocess.run(
            ["bash", str(ROOT / "tests" / "postgres.sh")], env=env, capture_output=True, text=True, timeout=300
        )
    if started is None or started.returncode != 0:
        why = started.stderr[-1500:] if started is not None else "no pg_ctl"
        if in_ci():
            pytest.fail(f"CI must test a PostgreSQL restart, but no private server started: {why}")
        pytest.skip(f"no private PostgreSQL server could be started: {why}")
    url = started.stdout.strip().splitlines()[-1].split("=", 1)[1]
    env["ACTSEARCH_PG_PORT"] = (datadir / "actsearch_port").read_text().strip()

    def start() -> None:  # as first started (a plain `pg_ctl start` would forget the options)
        subprocess.run(["bash", str(ROOT / "tests" / "postgres.sh")], env=env, check=True, capture_output=True)

    def ctl(*args: str) -> None:
        # -l: the server's output to its log (else the restarted server holds our pipes open)
        command = [pg_ctl, "-D", str(datadir), "-l", str(datadir / "server.log"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, cwd="/", check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    try:
        yield {"url": url, "ctl": ctl, "start": start}
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            ctl("stop", "-m", "immediate")
        shutil.rmtree(datadir, ignore_errors=True)


def _state(store: Store, run_id: int) -> dict:
    """What a run holds, comparable across stores (ids left out)."""
    candidates = store.candidates(run_id)
    fingerprint = {c.id: c.fingerprint for c in candidates}
    trained = Counter((fingerprint[e.candidate_id], e.seed) for e in store.run_evaluations(run_id))
    rows = sorted(
        (c.ask_seq or -1, c.genotype or "", c.expr, c.status, c.fitness, c.is_baseline, c.tell_seq or -1)
        for c in candidates
    )
    return {"candidates": rows, "trained": trained, "status": store.run(run_id).status}


class _Slow(FakeExecutor):
    """Trainings that take a little time, so that the search is still running during the restart."""

    def wait(self, timeout: float | None = None) -> list:
        threading.Event().wait(0.01)
        return super().wait(timeout)


class _Restart:
    """An Observer that stops the server after the `after`-th flush and starts it again in a
    thread: the search's next flush meets it down, for sure, and must wait for it."""

    def __init__(self, server: dict, after: int) -> None:
        self.server, self.after, self.flushes = server, after, 0
        self.thread: threading.Thread | None = None

    @contextlib.contextmanager
    def span(self, part: str) -> Iterator[None]:
        yield
        if part == "store.flush":
            self.flushes += 1
            if self.flushes == self.after:
                self.server["ctl"]("stop", "-m", "fast", "-w")
                self.thread = threading.Thread(target=self.server["start"])
                self.thread.start()


def _search(url: str, observer=None) -> tuple[Store, int]:
    settings = settings_for(SearchRequest(space="default", seed=2, trainings=120, reevaluate_top=0))
    store = Store.open(url)
    run = store.create_run(
        "r", task=settings.task_label, space=settings.space.name, seed=2, config=settings.to_config()
    )
    search = Search(settings, store, _Slow(capacity=4), run, observer=observer)
    search.flush_seconds = 0.02  # many small batches: the restart meets several of them
    search.run()
    return store, run.id


@pytest.mark.timeout(600)
def test_a_server_restart_mid_search_loses_and_repeats_nothing(server: dict, tmp_path: Path, caplog) -> None:
    reference, ref_run = _search(str(tmp_path / "reference.db"))
    caplog.set_level(logging.WARNING, logger="actsearch.store.batch")
    restart = _Restart(server, after=5)
    store, run_id = _search(server["url"], observer=restart)
    assert restart.thread is not None
    restart.thread.join(timeout=120)
    assert restart.flushes > 5  # the search went on writing after the restart
    assert "lost the connection" in caplog.text  # it met the server down, and retried
    restarted, expected = _state(store, run_id), _state(reference, ref_run)
    assert restarted["status"] == "finished"
    assert set(restarted["trained"].values()) == {1}  # every training stored once
    assert restarted == expected  # and the run is the one without a restart
    store.close()
    reference.close()


def test_a_batch_whose_commit_reply_was_lost_is_not_written_twice(server: dict, monkeypatch) -> None:
    """The connection breaks after the server committed: the retry finds the batch there."""
    from actsearch.store.batch import WriteBatch

    store = Store.open(server["url"])
    run = store.create_run(f"lost-{uuid.uuid4().hex[:6]}", task="t", space="s", seed=0, config={})
    real_write, broken = WriteBatch._write, []

    def write_then_lose_the_reply(self, conn, evaluation_ids):
        real_write(self, conn, evaluation_ids)
        if not broken:
            broken.append(True)
            conn.commit()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(WriteBatch, "_write", write_then_lose_the_reply)
    batch = store.batch()
    cid = batch.add_candidate(
        run.id, expr="x", fingerprint="f", complexity=1, generation=0, origin="init", status="queued"
    )
    batch.add_evaluation(cid, task="t", seed=0, planned_epochs=5, result=result(0.5))
    batch.flush()
    batch.close()
    assert broken and [c.id for c in store.candidates(run.id)] == [cid]
    assert len(store.run_evaluations(run.id)) == 1
    store.close()


def test_a_server_that_stays_away_ends_the_flush_in_one_line(server: dict) -> None:
    store = Store.open(server["url"])
    run = store.create_run(f"away-{uuid.uuid4().hex[:6]}", task="t", space="s", seed=0, config={})
    batch = store.batch()
    stored = batch.add_candidate(
        run.id, expr="x", fingerprint="f", complexity=1, generation=0, origin="init", status="queued"
    )
    batch.flush()
    batch.add_evaluation(stored, task="t", seed=0, planned_epochs=5, result=result(0.5))
    server["ctl"]("stop", "-m", "fast", "-w")
    store.retry_seconds = 2.0
    with pytest.raises(StoreError) as error:
        batch.flush()
    message = str(error.value)
    assert "stayed out of reach for 2 s" in message and "\n" not in message
    batch.close()
    store.close()
    server["start"]()
