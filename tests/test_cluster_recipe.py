"""The README's cluster recipe, run as written: a real two-node Ray cluster started with the
`ray` command, the search submitted with `ray job submit --working-dir .`, a job stopped
with `ray job stop` and completed with `--resume`.

Everything of this cluster lives under its own temp dir and its own ports, so it never
meets another Ray on the machine; it is stopped by killing exactly the processes whose
command line names that temp dir (`ray stop` would stop every Ray on the machine).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import ROOT, TINY_SPACE

pytestmark = pytest.mark.long  # `make test-long`: the README's cluster recipe on real ray start processes

BIN = Path(sys.executable).parent  # the environment's `ray` and `actsearch` commands
GCS_PORT, DASHBOARD_PORT, CLIENT_PORT = 46379, 48265, 40001
HEAD_PORTS = [
    "--dashboard-agent-listen-port",
    "48266",
    "--dashboard-agent-grpc-port",
    "48267",
    "--runtime-env-agent-port",
    "48268",
    "--metrics-export-port",
    "48269",
    "--node-manager-port",
    "48270",
    "--object-manager-port",
    "48271",
    "--min-worker-port",
    "41000",
    "--max-worker-port",
    "41499",
]
NODE_PORTS = [
    "--dashboard-agent-listen-port",
    "48276",
    "--dashboard-agent-grpc-port",
    "48277",
    "--runtime-env-agent-port",
    "48278",
    "--metrics-export-port",
    "48279",
    "--node-manager-port",
    "48280",
    "--object-manager-port",
    "48281",
    "--min-worker-port",
    "41500",
    "--max-worker-port",
    "41999",
]


def _env() -> dict[str, str]:
    """A shell with the project's environment active, talking to this cluster's job server.
    Ray >= 2.5x turns on token authentication when ~/.ray/auth_token exists (any earlier
    `ray.init()` writes one) but a joining node does not: say explicitly that this
    loopback-only cluster runs without it."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_ADDRESS": f"http://127.0.0.1:{DASHBOARD_PORT}",
        "RAY_AUTH_MODE": "disabled",
    }


def _ray(
    *args: str,
    timeout: float = 180,
    check: bool = True,
    groups: set[int] | None = None,
) -> subprocess.CompletedProcess:
    """Run the `ray` command; its own session, whose process group `groups` collects."""
    proc = subprocess.Popen(
        [str(BIN / "ray"), *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if groups is not None:
        groups.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check:
        assert done.returncode == 0, f"ray {' '.join(args)}:\n{out[-3000:]}\n{err[-3000:]}"
    return done


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process we can read."""
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
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


def _cluster_processes(temp: str, groups: set[int]) -> set[int]:
    """This cluster's processes: in the process groups of its `ray start` calls, or naming its
    temp dir, and everything they started."""
    table = _processes()
    found = {pid for pid, (_, group, cmdline) in table.items() if group in groups or temp in cmdline}
    found.discard(os.getpid())
    grew = True
    while grew:
        children = {pid for pid, (parent, _, _) in table.items() if parent in found} - found - {os.getpid()}
        found |= children
        grew = bool(children)
    return found


def _stop_cluster(temp: str, groups: set[int]) -> None:
    """SIGKILL this cluster's processes, and only them, until none is left (at most 30 s)."""
    deadline = time.monotonic() + 30
    while (pids := _cluster_processes(temp, groups)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.5)


@pytest.fixture
def cluster():
    """Head (1 CPU, dashboard and job server) plus a second node (1 CPU), on their own ports."""
    temp = tempfile.mkdtemp(prefix="asray", dir="/tmp")  # short: Ray puts unix sockets in it
    head_dir, node_dir = f"{temp}/head", f"{temp}/node"
    groups: set[int] = set()
    try:
        _ray(
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(GCS_PORT),
            "--num-cpus",
            "1",
            "--include-dashboard=true",
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(DASHBOARD_PORT),
            "--ray-client-server-port",
            str(CLIENT_PORT),
            "--temp-dir",
            head_dir,
            *HEAD_PORTS,
            groups=groups,
        )
        _ray(
            "start",
            "--address",
            f"127.0.0.1:{GCS_PORT}",
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            "1",
            "--temp-dir",
            node_dir,
            *NODE_PORTS,
            groups=groups,
        )
        yield {"head": head_dir, "node": node_dir}
    finally:
        _stop_cluster(temp, groups)


def _submit(*args: str, job: str, wait: bool = True) -> subprocess.CompletedProcess:
    """The README's command: ray job submit --working-dir . -- actsearch search --address auto ..."""
    options = ["--submission-id", job] + ([] if wait else ["--no-wait"])
    return _ray(
        "job",
        "submit",
        *options,
        "--working-dir",
        ".",
        "--",
        "actsearch",
        "search",
        "--address",
        "auto",
        *args,
        timeout=600,
        check=wait,
    )


def _node_of_worker(worker: str, cluster: dict[str, str]) -> str:
    """Which node ran the worker `host:pid`: the node whose logs hold that worker process."""
    pid = worker.rsplit(":", 1)[1]
    found = [name for name in ("head", "node") if list(Path(cluster[name]).glob(f"session_*/logs/*worker*{pid}*"))]
    assert len(found) == 1, (worker, found)
    return found[0]


def _evaluations(db: Path, run: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=30) as con:
        return con.execute(
            "SELECT e.candidate_id, e.worker FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
            "JOIN runs r ON r.id = c.run_id WHERE r.name = ?",
            (run,),
        ).fetchall()


def _evaluated_so_far(db: Path, run: str) -> int:
    """How many trainings the running job has stored; 0 while the job is still creating the file's tables."""
    try:
        return len(_evaluations(db, run))
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_readme_cluster_recipe(cluster, tmp_path: Path) -> None:
    from actsearch.store import Store

    db = tmp_path / "cluster.db"  # absolute: the job runs in Ray's copy of the working dir
    space = str(TINY_SPACE.relative_to(ROOT))  # shipped with the working dir
    search = ("--space", space, "--workers", "2", "--db", str(db), "--run", "recipe", "--seed", "6")

    # a job stopped mid-run leaves a run that --resume completes (two jobs rather than
    # three: a job costs about half a minute of the suite's CPU)
    _submit(*search, "--generations", "4", job="actsearch-stopped", wait=False)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if _evaluated_so_far(db, "recipe") >= 2:
            break
        time.sleep(1)
    _ray("job", "stop", "actsearch-stopped", timeout=120)
    status = _ray("job", "status", "actsearch-stopped").stdout
    assert "was stopped" in status, status
    assert Store.open(db).find_run("recipe").status != "finished"
    before = len(_evaluations(db, "recipe"))

    done = _submit(
        "--space", space, "--workers", "2", "--db", str(db), "--run", "recipe", "--resume", job="actsearch-resumed"
    )
    assert "succeeded" in (done.stdout + done.stderr).lower(), done.stdout[-2000:]
    store = Store.open(db)
    run = store.find_run("recipe")
    assert run.status == "finished"
    candidates = store.candidates(run.id)
    assert all(c.status in ("evaluated", "failed", "rejected", "duplicate") for c in candidates)
    trained = [c for c in candidates if c.status in ("evaluated", "failed")]
    assert all(store.evaluations(c.id, partials=False) for c in trained)  # every result stored
    proposed = [c for c in candidates if not c.is_baseline]
    assert len([c for c in proposed if c.status in ("evaluated", "failed")]) == 6 * 4  # the budget, spent once
    assert all(c.tell_seq is not None for c in proposed)
    assert len(_evaluations(db, "recipe")) > before
    workers = {worker for _, worker in _evaluations(db, "recipe")}
    assert {_node_of_worker(w, cluster) for w in workers} == {"head", "node"}  # both nodes trained
