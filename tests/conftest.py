"""Shared fixtures: the store backends, and one real search (real local Ray,
real SQLite, real TF) reused by the CLI tests. Helpers are in support.py."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import settings
from support import PG_ENV, TINY_SPACE, Backend, backend_params, pg_url_for_schema, run_cli

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (what .ci/run selects) and the
# default "dev" both draw a fixed sequence of examples (derandomize), so a failure always
# comes back; "explore" draws fresh examples for hunting new failures on purpose. No
# per-example deadline: timing on a shared machine is no verdict; time bounds are tested
# explicitly (tests/test_expr_bounded.py) and pytest-timeout stops a hang.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("dev", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The longest test files, longest first. `make test` hands whole files to two workers in
# collection order (xdist's loadfile, without its reordering by test count, which put
# these last): started first, they overlap with the many short files instead of running
# alone at the end. Measured in CI (`make test` prints the slowest tests).
LONGEST_FIRST = [  # seconds per file, clean-clone CI run of 2026-11-28 (cluster, train, install: after their cuts)
    "test_expr_fuzz.py",  # 263
    "test_resume.py",  # 165
    "test_search_e2e.py",  # 115
    "test_execute.py",  # 70
    "test_dashboard_browser.py",  # 66
    "test_search_tasks.py",  # 56
    "test_cluster_recipe.py",  # 55
    "test_execute_batch.py",  # 45
    "test_store_searches.py",  # 35
    "test_search_trainings.py",  # 34
    "test_train.py",  # 25
    "test_install.py",  # 20
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the LONGEST_FIRST files first (the order within a file is kept)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
            "(source .ci/postgres.sh before pytest)",
            pytrace=False,
        )
    from sqlalchemy import create_engine, text

    from actsearch.store.schema import resolve_url

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(resolve_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    backend = Backend("postgresql", pg_url_for_schema(base, schema))
    try:
        yield backend
    finally:
        backend.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
