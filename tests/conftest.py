"""Shared fixtures: one real search (real local Ray, real SQLite, real TF) reused by the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (what .ci/run selects) and the
# default "dev" both draw a fixed sequence of examples (derandomize), so a failure always
# comes back; "explore" draws fresh examples for hunting new failures on purpose. No
# per-example deadline: timing on a shared machine is no verdict; time bounds are tested
# explicitly (tests/test_expr_bounded.py) and pytest-timeout stops a hang.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

ROOT = Path(__file__).resolve().parent.parent
TINY_SPACE = ROOT / "tests" / "data" / "tiny.yaml"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m actsearch ARGS` in a fresh process, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "actsearch", *args], cwd=cwd or ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A two-generation search of the tiny space on 2 local Ray workers."""
    workdir = tmp_path_factory.mktemp("search")
    db = workdir / "results.db"
    proc = run_cli("search", "--space", str(TINY_SPACE), "--db", str(db), "--run", "tiny-1",
                   "--seed", "1", "--workers", "2", cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"db": db, "workdir": workdir, "stdout": proc.stdout, "run": "tiny-1"}
