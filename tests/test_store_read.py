"""The store's read side: `Store.open(db, read_only=True)` beside a writer, its one-line
refusals, and `actsearch.store.queries` on a real SQLite file with planted rows."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from support import REPO, populate, result

from actsearch.store import Store, StoreError, queries, schema
from actsearch.store.validations import Validations

WRITER = r"""
import sys
from actsearch.store import Store

url, n = sys.argv[1], int(sys.argv[2])
with Store.open(url) as store:
    run = store.find_run("live")
    for i in range(n):
        store.add_candidate(run.id, expr=f"x*{i}", fingerprint=f"fp{i}", complexity=3, generation=i,
                            origin="init", status="queued")
print("done")
"""


def _one_line(err: pytest.ExceptionInfo[StoreError]) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


def test_read_only_store_beside_a_writing_process(db):
    """A reader sees what the writer committed, never blocks it, and cannot write."""
    with db.open() as writer:
        ids = populate(writer)
        live = writer.create_run("live", task="mnist1d", space="s", seed=0, config={})
    reader = Store.open(db.url, read_only=True)
    try:
        assert reader.read_only and [r.name for r in reader.runs()] == ["demo", "other", "live"]
        assert reader.leaderboard(run="demo", k=1)[0].candidate_id == ids["d"]
        n = 40
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, db.url, str(n)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = [0]
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            with reader.read_session() as s:  # an open read transaction does not stop the writer
                s.execute(text("SELECT count(*) FROM candidates")).scalar_one()
                seen.append(len(reader.candidates(live.id)))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "done", err[-3000:]
        seen.append(len(reader.candidates(live.id)))
        assert seen == sorted(seen) and seen[-1] == n  # committed rows appear, in order

        # Every write is refused in one line, by the store and, below it, by the database.
        with pytest.raises(StoreError, match="read-only") as refused:
            reader.create_run("nope", task="t", space="s", seed=0, config={})
        _one_line(refused)
        with pytest.raises(StoreError, match="read-only"):
            reader.finish_candidate(ids["q"], fitness=0.1, status="evaluated")
        with pytest.raises(StoreError, match="read-only"):
            Validations(reader).save(expr="x", task="t", seed=0, planned_epochs=1, result=result(0.5))
        with pytest.raises(StoreError, match="read-only"), reader.write_session():
            pass
        with pytest.raises(DBAPIError, match="(?i)read-only|readonly"), reader.read_session() as s:
            s.execute(text("DELETE FROM runs"))
    finally:
        reader.close()
    with db.open() as store:
        assert len(store.runs()) == 3 and len(store.candidates(live.id)) == n
        assert store.candidate(ids["q"]).status == "queued"


def test_read_only_refusals_are_one_line_and_write_nothing(tmp_path):
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("create table stuff (id integer)")
    garbage = tmp_path / "notes.txt"
    garbage.write_text("this is not a database\n" * 200)
    older = tmp_path / "older.db"
    engine = schema.make_engine(schema.resolve_url(older))
    with schema.write_engine(engine).connect() as conn, conn.begin():
        schema.upgrade(conn, schema.KNOWN_REVISIONS[-2])
    engine.dispose()
    newer = tmp_path / "newer.db"
    Store.open(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    cases = (
        (missing, "no actsearch database at"),
        (empty, "holds no actsearch results yet"),
        (foreign, "not an actsearch database"),
        (garbage, "not an actsearch database"),
        (older, "older actsearch schema"),
        (newer, "created by a newer actsearch"),
        (":memory:", "not :memory:"),
    )
    for where, message in cases:
        with pytest.raises(StoreError, match=message) as err:
            Store.open(where, read_only=True)
        _one_line(err)
    assert not missing.exists() and empty.stat().st_size == 0
    for path, revision in ((older, schema.KNOWN_REVISIONS[-2]), (newer, "9999")):
        with sqlite3.connect(path) as conn:  # not migrated, not touched
            assert conn.execute("select version_num from alembic_version").fetchall() == [(revision,)]


def test_queries_on_planted_rows(tmp_path):
    path = tmp_path / "results.db"
    with Store.open(path) as store:
        ids = populate(store)
        empty = store.create_run("empty", task="t", space="s", seed=0, config={})
        saved = Validations(store)
        for seed, (own, relu) in enumerate(((0.9, 0.7), (0.92, 0.71)), start=10_000):
            saved.save(
                expr="tanh(x) * sigmoid(1.5 * x)", task="mnist1d", seed=seed, planned_epochs=5, result=result(own)
            )
            saved.save(expr="max(x, 0)", task="mnist1d", seed=seed, planned_epochs=5, result=result(relu))
        saved.save(
            expr="max(x, 0)", task="mnist1d", seed=10_002, planned_epochs=5, result=result(None, status="failed")
        )
        saved.save(expr="max(x, 0)", task="mnist1d", seed=10_000, planned_epochs=9, result=result(0.8))  # no own at 9
        finals = store.run_evaluations(ids["demo"])
    store = Store.open(path, read_only=True)
    try:
        totals = {t.run.name: t for t in queries.run_totals(store)}
        assert list(totals) == ["demo", "other", "empty"]
        demo = totals["demo"]
        assert demo.run.config == {"generations": 3, "population": 4}
        assert demo.trainings == len(finals) == 11  # 5 candidates x 2 seeds + 1 failed, partials not counted
        assert demo.proposals == 10  # every candidate but the baseline
        assert demo.best == queries.Best(0.91, ids["d"], "tanh(x) * sigmoid(1.5 * x)")
        assert demo.best_baseline == queries.Best(0.71, ids["relu"], "max(x, 0)")
        assert totals["other"].best is not None and totals["other"].best.candidate_id == ids["o-a"]
        assert (totals["empty"].trainings, totals["empty"].proposals, totals["empty"].best) == (0, 0, None)
        assert [t.run.id for t in queries.run_totals(store, ids["other"])] == [ids["other"]]

        points = queries.run_points(store, ids["demo"])
        assert set(points) == set(queries.POINT_COLUMNS)
        assert points["evaluation"] == [e.id for e in finals]
        assert points["fitness"] == [e.fitness for e in finals]
        assert points["status"].count("failed") == 1 and points["baseline"][:2] == [True, True]
        assert queries.run_points(store, ids["demo"], after=finals[-2].id)["evaluation"] == [finals[-1].id]
        assert queries.run_points(store, empty.id) == {name: [] for name in queries.POINT_COLUMNS}

        assert queries.rejection_reasons(store, ids["demo"]) == {"non-finite output": 2, "constant": 1}
        assert queries.baselines(store, ids["demo"]) == [{"id": ids["relu"], "expr": "max(x, 0)", "fitness": 0.71}]

        groups, bases = queries.validation_fitnesses(store, "tanh(x) * sigmoid(1.5 * x)", ids["demo"])
        assert bases == ["max(x, 0)"]
        assert groups == {("mnist1d", 5): {"tanh(x) * sigmoid(1.5 * x)": [0.9, 0.92], "max(x, 0)": [0.7, 0.71]}}
        assert queries.validation_fitnesses(store, "tanh(x)", ids["demo"]) == ({}, ["max(x, 0)"])
    finally:
        store.close()
