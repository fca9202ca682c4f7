"""Faults of the Ray under a search, on real Ray processes (issue 21):

- this machine's raylet, or the whole head node (GCS and raylet), dies mid-search: the
  search ends within seconds in one line that gives the resume command, exit code 75,
  the run `interrupted`; `--resume` then finishes the budget, each training stored once;
- a worker node of a two-node cluster (`ray start --head` + `ray start --address`) dies
  mid-search: its trainings run again on what is left and the search finishes its budget,
  each training stored once.

Each Ray lives under its own temp dir (and, for the cluster, its own ports), so it never
meets another Ray on the machine; the test kills exactly the processes it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Process, family, kill_processes

pytestmark = [pytest.mark.slow, pytest.mark.long]  # long: `make test-long` (real Ray processes killed)

BIN = Path(sys.executable).parent  # the environment's `ray` command
EXIT_CLUSTER_LOST = 75
POPULATION, GENERATIONS = 6, 3
TRAININGS, BASELINES = POPULATION * GENERATIONS, 2  # the budget; the baselines come on top
SPACE = f"""\
# 20 short trainings (3 epochs of digits-mlp, about a second each): long enough to kill Ray
# in the middle of a search, short enough for a test.
name: faults
task: digits-mlp
primitives:
  unary: [exp, log, square, neg, sigmoid, tanh, relu, abs]
  binary: [add, sub, mul, max]
tree: {{init_min_height: 1, init_max_height: 3, max_height: 5}}
evolution: {{strategy: generational, population: {POPULATION}, generations: {GENERATIONS}, elite: 1}}
budget: {{epochs: 3, reevaluate_top: 0}}
baselines: ["relu(x)", "tanh(x)"]
"""


@pytest.fixture
def ray_temp() -> Iterator[str]:
    """A short temp dir for Ray's files (its unix sockets live there); every process whose
    command line names it is killed at the end, and the dir removed."""
    temp = tempfile.mkdtemp(prefix="asf", dir="/tmp")
    try:
        yield temp
    finally:
        kill_processes(family(marker=temp))
        shutil.rmtree(temp, ignore_errors=True)


def _search(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """`actsearch search ARGS --workers 2 --no-export` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "actsearch", "search", *args, "--workers", "2", "--no-export"],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _workers_stored(db: Path) -> list[str]:
    """The worker (host:pid) of every training stored so far; none while the file is being created."""
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return [w for (w,) in con.execute("SELECT worker FROM evaluations WHERE NOT is_partial") if w]
    except sqlite3.OperationalError:
        return []


def _wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the search ended before {what}:\n{out[-2000:]}\n{err[-2000:]}")
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.3)


def _store_summary(db: Path, run: str) -> dict:
    """The run's status, its budget spent, and the trainings stored more than once
    (per candidate, task and seed; and per fingerprint, task and seed)."""
    with sqlite3.connect(db, timeout=30) as con:
        (status,) = con.execute("SELECT status FROM runs WHERE name = ?", (run,)).fetchone()
        trained = con.execute(
            "SELECT count(*) FROM candidates c JOIN runs r ON r.id = c.run_id "
            "WHERE r.name = ? AND NOT c.is_baseline AND c.status IN ('evaluated', 'failed')",
            (run,),
        ).fetchone()[0]
        twice = {}
        for key in ("c.id", "c.fingerprint"):
            twice[key] = con.execute(
                f"SELECT {key}, e.task, e.seed, count(*) FROM evaluations e "
                "JOIN candidates c ON c.id = e.candidate_id JOIN runs r ON r.id = c.run_id "
                f"WHERE r.name = ? AND NOT e.is_partial GROUP BY {key}, e.task, e.seed HAVING count(*) > 1",
                (run,),
            ).fetchall()
        stored = con.execute(
            "SELECT count(*) FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
            "JOIN runs r ON r.id = c.run_id WHERE r.name = ? AND NOT e.is_partial",
            (run,),
        ).fetchone()[0]
    return {"status": status, "trained": trained, "stored": stored, "twice": twice}


# -- the raylet or the head node of a search's own local Ray dies ---------------------------


@pytest.mark.timeout(240)
@pytest.mark.parametrize("victim", ["raylet", "head"])
def test_lost_raylet_or_head_ends_in_one_line_then_resume_finishes(victim: str, ray_temp: str, tmp_path: Path) -> None:
    """SIGKILL of the local raylet (or of GCS and raylet: the head node) mid-search."""
    space = tmp_path / "faults.yaml"
    space.write_text(SPACE)
    db, run = tmp_path / "faults.db", "lost"
    proc = _search("--space", str(space), "--db", str(db), "--run", run, cwd=tmp_path, env={"RAY_TMPDIR": ray_temp})
    ray_processes: dict[int, Process] = {}
    try:
        _wait_for(proc, lambda: len(_workers_stored(db)) >= 3, "3 trainings stored")
        ray_processes = family(roots={proc.pid})  # the search's local Ray: GCS, raylet, agents, workers
        kinds = ("/raylet/raylet",) if victim == "raylet" else ("/raylet/raylet", "/gcs/gcs_server")
        victims = [p.pid for p in ray_processes.values() if any(kind in p.cmdline for kind in kinds)]
        assert len(victims) == len(kinds), [p.cmdline[:80] for p in ray_processes.values()]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=90)
        seconds = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        kill_processes(ray_processes)

    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, nothing of Ray's
    line = lines[0]
    what = "this machine's raylet" if victim == "raylet" else "the head node (GCS at"
    assert line.startswith("error: Ray stopped: ") and what in line, line
    assert f"Resume with: actsearch search --run {run} --resume --db {db}" in line, line
    assert f"Ray's logs: {ray_temp}" in line, line
    assert proc.returncode == EXIT_CLUSTER_LOST, (proc.returncode, err)
    assert "state-dump" not in out and "Raylet is terminated" not in out, out[-3000:]
    assert seconds < 30, f"{seconds:.1f} s from the kill to the end of the search"
    before = _store_summary(db, run)
    assert before["status"] == "interrupted"
    assert before["trained"] < TRAININGS  # the kill came before the end

    resumed = subprocess.run(
        [sys.executable, "-m", "actsearch", "search", "--run", run, "--resume", "--db", str(db)]
        + ["--workers", "2", "--no-export"],
        cwd=tmp_path,
        env={**os.environ, "RAY_TMPDIR": ray_temp},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = _store_summary(db, run)
    assert after["status"] == "finished"
    assert after["trained"] == TRAININGS  # the budget, spent once
    assert after["stored"] == TRAININGS + BASELINES
    assert after["twice"] == {"c.id": [], "c.fingerprint": []}  # every training stored exactly once


# -- a worker node of a two-node cluster dies ------------------------------------------------

GCS_PORT = 47379  # apart from test_cluster_recipe.py's ports: both may run at once
HEAD_PORTS = [
    "--node-manager-port",
    "47270",
    "--object-manager-port",
    "47271",
    "--dashboard-agent-listen-port",
    "47266",
    "--dashboard-agent-grpc-port",
    "47267",
    "--runtime-env-agent-port",
    "47268",
    "--metrics-export-port",
    "47269",
    "--ray-client-server-port",
    "47001",
    "--min-worker-port",
    "42000",
    "--max-worker-port",
    "42499",
]
NODE_PORTS = [
    "--node-manager-port",
    "47280",
    "--object-manager-port",
    "47281",
    "--dashboard-agent-listen-port",
    "47276",
    "--dashboard-agent-grpc-port",
    "47277",
    "--runtime-env-agent-port",
    "47278",
    "--metrics-export-port",
    "47279",
    "--min-worker-port",
    "42500",
    "--max-worker-port",
    "42999",
]
# Ray >= 2.5x turns on token authentication when ~/.ray/auth_token exists but a joining node
# does not: this loopback-only cluster runs without it.
CLUSTER_ENV = {"RAY_AUTH_MODE": "disabled"}


def _ray_start(*args: str, groups: set[int]) -> None:
    """`ray start ARGS` in its own session, whose process group `groups` collects."""
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", *args],
        env={**os.environ, **CLUSTER_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    groups.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, f"ray start {' '.join(args)}:\n{out[-3000:]}\n{err[-3000:]}"


@pytest.fixture
def two_nodes(request: pytest.FixtureRequest, ray_temp: str) -> Iterator[dict]:
    """A head with `request.param` CPUs (2: room for a new worker when the second node dies;
    1: none) and a second node with 1, on this machine, with their own ports. The search's
    two workers are SPREAD over the nodes: one on each."""
    head_dir, node_dir = f"{ray_temp}/head", f"{ray_temp}/node"
    head_groups: set[int] = set()
    node_groups: set[int] = set()
    try:
        _ray_start(
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(GCS_PORT),
            "--num-cpus",
            str(request.param),
            "--include-dashboard=false",
            "--temp-dir",
            head_dir,
            *HEAD_PORTS,
            groups=head_groups,
        )
        _ray_start(
            "--address",
            f"127.0.0.1:{GCS_PORT}",
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "1",
            "--temp-dir",
            node_dir,
            *NODE_PORTS,
            groups=node_groups,
        )
        yield {
            "head": lambda: family(groups=head_groups, marker=head_dir),
            "node": lambda: family(groups=node_groups, marker=node_dir),
        }
    finally:
        kill_processes(family(groups=head_groups | node_groups, marker=ray_temp))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("two_nodes", [2, 1], ids=["head-has-room", "head-full"], indirect=True)
def test_lost_worker_node_its_trainings_run_again_and_the_budget_is_spent(two_nodes: dict, tmp_path: Path) -> None:
    """The second node's processes SIGKILLed mid-search: its training runs again elsewhere, a
    new worker starts on the head if it has room (else the search goes on with one), and the
    search spends its whole budget, each training stored once."""
    space = tmp_path / "faults.yaml"
    space.write_text(SPACE)
    db, run = tmp_path / "nodes.db", "nodes"
    args = ("--space", str(space), "--db", str(db), "--run", run, "--address", f"127.0.0.1:{GCS_PORT}")
    proc = _search(*args, cwd=tmp_path, env=CLUSTER_ENV)
    try:

        def second_node_trained() -> bool:
            workers = {p.pid for p in two_nodes["node"]().values() if "ray::TrainingWorker" in p.cmdline}
            return any(int(w.rsplit(":", 1)[1]) in workers for w in _workers_stored(db))

        _wait_for(proc, second_node_trained, "training on the second node")
        kill_processes(two_nodes["node"]())  # the second node's raylet, agents and training worker
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err[-3000:]
    summary = _store_summary(db, run)
    assert summary["status"] == "finished"
    assert summary["trained"] == TRAININGS  # the full budget, on what was left
    assert summary["stored"] == TRAININGS + BASELINES
    assert summary["twice"] == {"c.id": [], "c.fingerprint": []}  # nothing stored twice
    lost = [line for line in err.splitlines() if "training worker was lost" in line]
    assert len(lost) == 1, err  # the loss was noticed (once: one worker lived there) ...
    assert "Traceback" not in err and "state-dump" not in out  # ... and said in one line


@pytest.mark.timeout(240)
@pytest.mark.parametrize("two_nodes", [1], ids=["cluster"], indirect=True)
def test_lost_head_node_of_a_cluster_ends_in_one_line(two_nodes: dict, tmp_path: Path) -> None:
    """The head node's processes (GCS, raylet, agents, its worker) SIGKILLed under a search
    that joined the cluster with --address: one line whose resume command names the cluster."""
    space = tmp_path / "faults.yaml"
    space.write_text(SPACE)
    db, run = tmp_path / "head.db", "head"
    args = ("--space", str(space), "--db", str(db), "--run", run, "--address", f"127.0.0.1:{GCS_PORT}")
    proc = _search(*args, cwd=tmp_path, env=CLUSTER_ENV)
    try:
        _wait_for(proc, lambda: len(_workers_stored(db)) >= 2, "2 trainings stored")
        kill_processes(two_nodes["head"]())
        killed = time.monotonic()
        out, err = proc.communicate(timeout=90)
        seconds = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: Ray stopped: the head node (GCS at "), line
    assert f"Resume with: actsearch search --run {run} --resume --db {db} --address 127.0.0.1:{GCS_PORT}" in line
    assert proc.returncode == EXIT_CLUSTER_LOST, (proc.returncode, err)
    assert "state-dump" not in out and "Raylet is terminated" not in out, out[-3000:]
    assert seconds < 30, f"{seconds:.1f} s from the kill to the end of the search"
    assert _store_summary(db, run)["status"] == "interrupted"
