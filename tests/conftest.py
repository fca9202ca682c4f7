"""Shared fixtures: the store backends, and one real search (real local Ray,
real SQLite, real TF) reused by the CLI tests. Helpers are in support.py."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from support import PG_ENV, TINY_SPACE, Backend, backend_params, fresh_pg_schema, run_cli

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (what .ci/run selects) and the
# default "dev" both draw a fixed sequence of examples (derandomize), so a failure always
# comes back; "explore" draws fresh examples for hunting new failures on purpose. No
# per-example deadline: timing on a shared machine is no verdict; time bounds are tested
# explicitly (tests/test_expr_bounded.py) and pytest-timeout stops a hang.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Longest test files first, from measured times (tests/file_order.py).
pytest_plugins = ["file_order"]


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A two-generation search of the tiny space on 2 local Ray workers."""
    workdir = tmp_path_factory.mktemp("search")
    db = workdir / "results.db"
    proc = run_cli(
        "search",
        "--space",
        str(TINY_SPACE),
        "--db",
        str(db),
        "--run",
        "tiny-1",
        "--seed",
        "1",
        "--workers",
        "2",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"db": db, "workdir": workdir, "stdout": proc.stdout, "run": "tiny-1"}


@pytest.fixture(params=backend_params())
def db(request, tmp_path):
    """A fresh, empty database on one backend (a new schema on PostgreSQL)."""
    if request.param == "sqlite":
        backend = Backend("sqlite", str(tmp_path / "actsearch.db"))
        yield backend
        backend.close()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.fail(
            f"{PG_ENV} is not set but CI is: the PostgreSQL store tests must run in CI "
            "(source tests/postgres.sh before pytest)",
            pytrace=False,
        )
    with fresh_pg_schema(base) as url:
        backend = Backend("postgresql", url)
        try:
            yield backend
        finally:
            backend.close()
