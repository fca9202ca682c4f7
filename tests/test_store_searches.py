"""Sharing a results database: concurrent searches on one SQLite file, and a search on PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from support import PG_ENV, ROOT, TINY_SPACE, fresh_pg_schema, in_ci, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.long]  # long: `make test-long` (whole searches sharing a store)


def _search(db: str, run: str, cwd: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actsearch",
            "search",
            "--space",
            str(TINY_SPACE),
            "--db",
            db,
            "--run",
            run,
            "--seed",
            str(seed),
            "--executor",
            "local",
            "--no-export",
        ],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_searches_share_one_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    procs = [_search(str(db), f"run-{i}", tmp_path, seed=i) for i in (1, 2)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "locked" not in err
    with sqlite3.connect(db) as conn:
        proposed = dict(
            conn.execute(
                "select r.name, count(*) from candidates c join runs r on r.id = c.run_id "
                "where not c.is_baseline group by r.name"
            ).fetchall()
        )
        spent = dict(
            conn.execute(
                "select r.name, count(*) from candidates c join runs r on r.id = c.run_id "
                "where not c.is_baseline and c.status in ('evaluated', 'failed') "
                "group by r.name"
            ).fetchall()
        )
        statuses = {s for (s,) in conn.execute("select status from runs")}
        evaluations = conn.execute("select count(*) from evaluations").fetchone()[0]
        trained = conn.execute("select count(*) from candidates where status in ('evaluated', 'failed')").fetchone()[0]
    assert spent == {"run-1": 12, "run-2": 12}  # the budget: 12 trainings each (population 6 x 2)
    assert all(n >= 12 for n in proposed.values())  # duplicates and rejections cost no training
    assert statuses == {"finished"}
    assert evaluations == trained  # every training that finished is there, once


def _pg_params() -> list[str]:
    return ["postgresql"] if os.environ.get(PG_ENV) or in_ci() else []


@pytest.mark.parametrize("backend", _pg_params())
def test_search_on_postgresql(backend: str, tmp_path: Path) -> None:
    url = os.environ.get(PG_ENV)
    assert url, f"{PG_ENV} is not set: run `source tests/postgres.sh` (CI must test PostgreSQL)"
    with fresh_pg_schema(url) as schema_url:
        _search_and_top_on(schema_url, tmp_path)


def _search_and_top_on(url: str, tmp_path: Path) -> None:
    run = f"pg-{uuid.uuid4().hex[:8]}"
    proc = run_cli(
        "search",
        "--space",
        str(TINY_SPACE),
        "--db",
        url,
        "--run",
        run,
        "--seed",
        "3",
        "--executor",
        "local",
        "--no-export",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    top = run_cli("top", "--db", url, "--run", run, "--format", "json", cwd=ROOT)
    rows = json.loads(top.stdout)
    assert rows and rows[0]["rank"] == 1 and any(r["baseline"] for r in rows)
