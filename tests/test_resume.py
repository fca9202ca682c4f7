"""Resume: a search killed with SIGKILL (or stopped with Ctrl-C) continues, losing and repeating nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import ROOT, StopAfter, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.long]  # long: `make test-long` (whole searches stopped, killed and resumed)

SPACE = ROOT / "tests" / "data" / "resume.yaml"
TRAININGS = 6 * 3  # the budget; duplicates and rejections are proposals that cost none
BASELINES = 2


def _popen(cwd: Path, *args: str) -> subprocess.Popen:
    """`actsearch ARGS` in the background, so that the test can signal it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "actsearch", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )


def _ctrl_c_as_at_a_terminal() -> None:
    """A test run started in the background (nohup, `&`) ignores SIGINT, and so would the
    search it starts: give the search the disposition of a terminal's foreground job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(db: Path, run: str, cwd: Path) -> subprocess.Popen:
    space = ["--space", str(SPACE), "--seed", "5"]
    return _popen(cwd, "search", *space, "--db", str(db), "--run", run, "--workers", "2", "--no-export")


def _start_resume(db: Path, run: str, cwd: Path) -> subprocess.Popen:
    return _popen(cwd, "search", "--db", str(db), "--run", run, "--resume", "--workers", "2", "--no-export")


def _told(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("select count(*) from candidates where tell_seq is not null").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def _wait_until_told(proc: subprocess.Popen, db: Path, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _told(db) < count:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.3)


def _summary(db: Path, run: str) -> dict:
    with sqlite3.connect(db) as conn:
        q = lambda sql: conn.execute(sql, (run,)).fetchall()  # noqa: E731
        genotypes = q(
            "select c.genotype from candidates c join runs r on r.id = c.run_id "
            "where r.name = ? and not c.is_baseline order by c.ask_seq"
        )
        statuses = dict(
            q(
                "select c.status, count(*) from candidates c join runs r on r.id = c.run_id "
                "where r.name = ? group by c.status"
            )
        )
        trained = q(
            "select c.fingerprint, count(*) from evaluations e join candidates c on c.id = e.candidate_id "
            "join runs r on r.id = c.run_id where r.name = ? and not e.is_partial group by c.fingerprint"
        )
        (status,) = q("select status from runs where name = ?")[0]
    return {"genotypes": [g for (g,) in genotypes], "statuses": statuses, "trained": dict(trained), "status": status}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("full")
    db = workdir / "full.db"
    proc = _start(db, "full", workdir)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return {**_summary(db, "full"), "db": db}


@pytest.mark.timeout(900)  # with its fixture: three searches (about 110 s in CI, 325 s on a loaded machine)
def test_ctrl_c_then_sigkill_mid_generation_then_resume(uninterrupted: dict, tmp_path: Path) -> None:
    """Stopped with Ctrl-C in the first generation, resumed, killed with SIGKILL in the
    middle of the second, resumed again: the run ends exactly as the uninterrupted one
    (same proposals, same statuses), and nothing was trained twice.

    One chain of stops rather than a search per kind of stop: each search of 30-epoch
    trainings costs about a minute of the suite."""
    db = tmp_path / "stopped.db"
    proc = _start(db, "stopped", tmp_path)
    _wait_until_told(proc, db, 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--run stopped --resume" in err  # says how to resume
    assert _summary(db, "stopped")["status"] == "interrupted"

    proc = _start_resume(db, "stopped", tmp_path)
    _wait_until_told(proc, db, 8)  # the second generation is being proposed and trained
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = _summary(db, "stopped")
    assert before["status"] == "running" and len(before["trained"]) < TRAININGS + BASELINES

    resumed = run_cli(
        "search", "--db", str(db), "--run", "stopped", "--resume", "--workers", "2", "--no-export", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed run 'stopped'" in resumed.stdout
    after = _summary(db, "stopped")

    assert after["status"] == "finished"
    assert len(after["trained"]) == TRAININGS + BASELINES
    assert after["genotypes"] == uninterrupted["genotypes"]  # same population rebuilt, same budget
    assert after["statuses"] == uninterrupted["statuses"]
    assert all(n == 1 for n in after["trained"].values()), after["trained"]  # nothing trained twice
    assert after["trained"].keys() == uninterrupted["trained"].keys()


def test_resume_refuses_unknown_or_finished_runs(uninterrupted: dict, tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    for args, message in (
        (("--db", str(db), "--run", "ghost", "--resume"), "no run named 'ghost'"),
        (("--db", str(db), "--resume"), "--resume needs --run"),
        (("--db", str(uninterrupted["db"]), "--run", "full", "--resume"), "run 'full' already finished"),
    ):
        proc = run_cli("search", *args, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


MULTI_SEED_SPACE = (
    SPACE.read_text()
    .replace("epochs: 30,", "epochs: 3, seeds_per_candidate: 2,")
    .replace("generations: 3", "generations: 2")  # 28 trainings a search; stopped after 7 results
)


@pytest.fixture(scope="module")
def multi_seed_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, Path]:
    from actsearch.search import SearchRequest, run_search

    workdir = tmp_path_factory.mktemp("multi")
    space = workdir / "multi.yaml"
    space.write_text(MULTI_SEED_SPACE)
    db = workdir / "full.db"
    return space, run_search(SearchRequest(space=str(space), db=str(db), run="r", seed=5, executor="local")), db


@pytest.mark.parametrize("stop_after", [7])  # every stop point without training: test_search_loop.py
def test_resume_with_several_seeds_stopped_anywhere(multi_seed_full, tmp_path: Path, stop_after: int) -> None:
    """Stopped after any number of results (some candidates with one of two seeds done): same outcome."""
    from actsearch.execute.local import InProcessExecutor
    from actsearch.search import Search, SearchRequest, run_search, settings_for
    from actsearch.store import Store

    space, full, full_db = multi_seed_full

    request = SearchRequest(space=str(space), db=str(tmp_path / "stopped.db"), run="r", seed=5, executor="local")
    settings = settings_for(request)
    store = Store.open(request.db)
    run = store.create_run(
        "r", task=settings.task_label, space=settings.space.name, seed=5, config=settings.to_config()
    )
    executor = StopAfter(InProcessExecutor(settings.tasks), stop_after)
    with pytest.raises(KeyboardInterrupt):
        Search(settings, store, executor, run).run()
    resumed = run_search(SearchRequest(db=request.db, run="r", resume=True, executor="local"))

    assert resumed.counts == full.counts
    assert _summary(Path(request.db), "r")["genotypes"] == _summary(full_db, "r")["genotypes"]
    trained = _summary(Path(request.db), "r")["trained"]
    assert all(n == 2 for n in trained.values()), trained  # two seeds each, none repeated
