"""Store conformance suite: the same tests on every backend (the `db` fixture in conftest.py)."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from support import REPO, populate, result

from actsearch.results import Partial
from actsearch.store import NotFoundError, Store, StoreError, schema

# ---------------------------------------------------------------- runs


def test_create_get_and_finish_run(db):
    store = db.open()
    config = {"population": 8, "primitives": ["exp", "log"], "nested": {"a": 1.5}}
    run = store.create_run("r1", task="mnist1d", space="small.yaml", seed=7, config=config)
    assert run.id > 0 and run.status == "running" and run.finished_at is None
    assert run.config == config and run.seed == 7 and run.task == "mnist1d"
    assert run.created_at.tzinfo is not None and run.actsearch_version

    got = store.find_run("r1")
    assert got == run and got.config == config
    assert store.find_run("missing") is None
    assert store.run(run.id) == run
    with pytest.raises(NotFoundError):
        store.run(9999)

    with pytest.raises(StoreError, match="already exists"):
        store.create_run("r1", task="t", space="s", seed=0, config={})

    done = store.set_run_status(run.id, "finished")
    assert done.status == "finished" and done.finished_at is not None
    again = store.set_run_status(run.id, "running")  # resumed
    assert again.status == "running" and again.finished_at is None
    assert store.create_run("r2", task="t", space="s", seed=0, config={}, notes="first try").notes == "first try"
    with pytest.raises(ValueError, match="run status"):
        store.set_run_status(run.id, "done")
    assert pickle.loads(pickle.dumps(store.find_run("r1"))) == store.find_run("r1")


# ---------------------------------------------------------------- candidates


def test_candidates_crud_and_lineage(db):
    store = db.open()
    run = store.create_run("r", task="t", space="s", seed=0, config={})
    a = store.add_candidate(
        run.id, expr="x", fingerprint="fa", complexity=1, generation=0, parents=[], origin="init", status="queued"
    )
    b = store.add_candidate(
        run.id,
        expr="tanh(x)",
        fingerprint="fb",
        complexity=2,
        generation=0,
        parents=[],
        origin="baseline",
        is_baseline=True,
        status="queued",
    )
    c = store.add_candidate(
        run.id,
        expr="x*tanh(x)",
        fingerprint="fc",
        complexity=4,
        generation=1,
        parents=[b.id, a.id],
        origin="crossover",
        status="queued",
    )
    d = store.add_candidate(
        run.id,
        expr="x*tanh(2*x)",
        fingerprint="fd",
        complexity=6,
        generation=2,
        parents=[c.id],
        origin="mutation:point",
        status="rejected",
        reason="not monotonic",
    )
    e = store.add_candidate(
        run.id,
        expr="tanh(x)*x",
        fingerprint="fc",
        complexity=4,
        generation=2,
        parents=[c.id],
        origin="mutation:swap",
        status="duplicate",
        equivalent_to=c.id,
    )
    assert c.parents == (b.id, a.id)
    assert b.is_baseline and not a.is_baseline
    assert d.reason == "not monotonic" and e.equivalent_to == c.id
    assert store.candidate(c.id) == c

    updated = store.finish_candidate(a.id, fitness=None, status="failed", reason="NaN loss")
    assert updated.status == "failed" and updated.reason == "NaN loss"
    assert updated.updated_at >= a.updated_at
    assert store.finish_candidate(a.id, fitness=None, status="queued").reason is None
    scored = store.finish_candidate(c.id, fitness=0.9, fitness_std=0.01)
    assert (scored.fitness, scored.fitness_std) == (0.9, 0.01)
    assert scored.parents == (b.id, a.id)
    finished = store.finish_candidate(e.id, fitness=0.9, tell_seq=7)
    assert (finished.fitness, finished.tell_seq, finished.status) == (0.9, 7, "duplicate")
    finished = store.finish_candidate(c.id, fitness=0.8, fitness_std=0.02, status="evaluated", tell_seq=8)
    assert (finished.status, finished.fitness, finished.fitness_std, finished.tell_seq) == ("evaluated", 0.8, 0.02, 8)
    store.finish_candidate(c.id, fitness=None, status="queued")

    all_ids = [x.id for x in store.candidates(run.id)]
    assert all_ids == [a.id, b.id, c.id, d.id, e.id]
    assert [x.id for x in store.candidates(run.id, statuses=["rejected", "duplicate"])] == [d.id, e.id]
    assert [x.id for x in store.candidates(run.id, statuses="queued")] == [a.id, b.id, c.id]
    assert store.candidates(run.id)[2].parents == (b.id, a.id)

    counts = store.counts(run.id)
    assert counts == {
        "proposed": 0,
        "rejected": 1,
        "duplicate": 1,
        "queued": 3,
        "running": 0,
        "evaluated": 0,
        "failed": 0,
        "pooled": 0,
        "passed": 0,
    }

    assert [x.id for x in store.lineage(d.id)] == [c.id, b.id, a.id]
    assert store.lineage(a.id) == []

    with pytest.raises(NotFoundError):
        store.candidate(12345)
    with pytest.raises(NotFoundError):
        store.finish_candidate(12345, fitness=None, status="queued")
    with pytest.raises(NotFoundError):
        store.add_candidate(
            999, expr="x", fingerprint="f", complexity=1, generation=0, parents=[], origin="init", status="queued"
        )
    with pytest.raises(ValueError, match="origin"):
        store.add_candidate(
            run.id, expr="x", fingerprint="f", complexity=1, generation=0, parents=[], origin="magic", status="queued"
        )
    with pytest.raises(ValueError, match="candidate status"):
        store.add_candidate(
            run.id, expr="x", fingerprint="f", complexity=1, generation=0, parents=[], origin="init", status="done"
        )
    with pytest.raises(StoreError):  # a parent that does not exist: foreign key
        store.add_candidate(
            run.id,
            expr="x",
            fingerprint="f",
            complexity=1,
            generation=0,
            parents=[777],
            origin="mutation:point",
            status="queued",
        )
    assert len(store.candidates(run.id)) == 5  # the failed insert left nothing behind


# ---------------------------------------------------------------- evaluations


def test_evaluations_with_partials(db):
    store = db.open()
    run = store.create_run("r", task="mnist1d", space="s", seed=0, config={})
    c = store.add_candidate(
        run.id, expr="x", fingerprint="f", complexity=1, generation=0, parents=[], origin="init", status="running"
    )
    rows = store.add_evaluation(
        c.id,
        task="mnist1d",
        seed=3,
        planned_epochs=10,
        result=result(0.75, partials=(Partial(2, 0.5, 1.5), Partial(5, 0.7, float("nan")))),
    )
    final, p1, p2 = rows
    assert not final.is_partial and final.planned_epochs == 10 and final.fitness == 0.75
    assert (final.seed, final.epochs, final.steps, final.batch_size, final.worker) == (3, 5, 50, 32, "w1")
    assert p1.is_partial and p1.partial_of == final.id and p1.planned_epochs == 2 and p1.epochs == 2
    assert p1.val_accuracy == 0.5 and p1.fitness is None and p1.status == "ok"
    assert p2.val_loss is None  # NaN stored as NULL

    failed = store.add_evaluation(
        c.id,
        task="mnist1d",
        seed=4,
        planned_epochs=10,
        result=result(None, status="failed", error="boom", val_loss=float("nan")),
    )
    assert len(failed) == 1 and failed[0].error == "boom" and failed[0].val_loss is None

    assert store.evaluations(c.id) == rows + failed
    assert [e.id for e in store.evaluations(c.id, partials=False)] == [final.id, failed[0].id]
    assert [e.id for e in store.run_evaluations(run.id)] == [final.id, failed[0].id]
    assert len(store.run_evaluations(run.id, partials=True)) == 4
    with pytest.raises(ValueError, match="evaluation status"):
        store.add_evaluation(c.id, task="t", seed=0, planned_epochs=1, result=result(status="weird"))
    with pytest.raises(NotFoundError):
        store.add_evaluation(999, task="t", seed=0, planned_epochs=1, result=result())


# ---------------------------------------------------------------- leaderboard & summaries


def test_leaderboard_ordering_and_baselines(db):
    store = db.open()
    ids = populate(store)
    board = store.leaderboard(run="demo")
    assert [r.candidate_id for r in board] == [ids[k] for k in ("d", "c", "a", "relu", "b")]
    assert [r.rank for r in board] == [1, 2, 3, 4, 5]
    assert [r.is_baseline for r in board] == [False, False, False, True, False]
    top = board[0]
    assert top.run == "demo" and top.expr == "tanh(x) * sigmoid(1.5 * x)"
    assert math.isclose(top.fitness, 0.91) and math.isclose(top.fitness_std, 0.02)
    assert top.evaluations == 2 and top.origin == "crossover" and top.task == "mnist1d"

    # duplicates, rejected and failed candidates never rank, even with a fitness
    for key in ("dup", "r1", "f1"):
        store.finish_candidate(ids[key], fitness=0.99)
    assert [r.candidate_id for r in store.leaderboard(run="demo")] == [r.candidate_id for r in board]

    across = store.leaderboard(k=3)
    assert [(r.run, r.candidate_id) for r in across] == [("other", ids["o-a"]), ("demo", ids["d"]), ("demo", ids["c"])]
    assert len(store.leaderboard(k=None)) == 7
    assert store.leaderboard(task="cifar10") == []
    assert len(store.leaderboard(task="mnist1d", k=100)) == 7
    assert store.leaderboard(run="nope") == []

    # ties: the simpler expression first, then the older one
    run = store.create_run("ties", task="t", space="s", seed=0, config={})
    big = store.add_candidate(
        run.id, expr="x+x+x", fingerprint="1", complexity=5, generation=0, parents=[], origin="init", status="evaluated"
    )
    small = store.add_candidate(
        run.id, expr="x", fingerprint="2", complexity=1, generation=0, parents=[], origin="init", status="evaluated"
    )
    unknown = store.add_candidate(
        run.id, expr="y", fingerprint="3", complexity=None, generation=0, parents=[], origin="init", status="evaluated"
    )
    for c in (big, small, unknown):
        store.finish_candidate(c.id, fitness=0.5)
    assert [r.candidate_id for r in store.leaderboard(run="ties")] == [small.id, big.id, unknown.id]


def test_runs_summary_and_counts(db):
    store = db.open()
    ids = populate(store)
    runs = {r.name: r for r in store.runs()}
    assert list(runs) == ["demo", "other"]
    demo = runs["demo"]
    assert demo.status == "running" and demo.candidates == 11
    assert demo.evaluations == 11  # 5 candidates x 2 seeds + 1 failed; partials not counted
    assert math.isclose(demo.best_fitness, 0.91) and demo.best_expr == "tanh(x) * sigmoid(1.5 * x)"
    other = runs["other"]
    assert other.status == "finished" and other.finished_at is not None
    assert other.evaluations == 2 and other.best_expr == "x * sigmoid(2 * x)"
    assert store.counts(ids["demo"]) == {
        "proposed": 0,
        "rejected": 3,
        "duplicate": 1,
        "queued": 1,
        "running": 0,
        "evaluated": 5,
        "failed": 1,
        "pooled": 0,
        "passed": 0,
    }
    empty = store.create_run("empty", task="t", space="s", seed=0, config={})
    summary = {r.name: r for r in store.runs()}["empty"]
    assert (summary.candidates, summary.evaluations, summary.best_fitness) == (0, 0, None)
    assert store.counts(empty.id)["queued"] == 0


# ---------------------------------------------------------------- persistence & schema


def test_rows_persist_across_reopen(db):
    store = db.open()
    ids = populate(store)
    before = (store.runs(), store.leaderboard(k=None), store.candidates(ids["demo"]), store.evaluations(ids["d"]))
    store.close()
    again = db.open()
    after = (again.runs(), again.leaderboard(k=None), again.candidates(ids["demo"]), again.evaluations(ids["d"]))
    assert after == before
    assert again.find_run("demo").config == {"generations": 3, "population": 4}


def _revision(db) -> set[str]:
    with db.engine().connect() as conn:
        return {r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version"))}


def test_fresh_database_is_at_head_and_matches_models(db):
    store = db.open()
    assert _revision(db) == {schema.HEAD}
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from actsearch.store.models import Base

    with db.engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models.py and the migrations disagree: {diff}"
    store.close()


def test_known_revisions_match_migration_scripts():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(schema.alembic_config())
    chain = [s.revision for s in scripts.walk_revisions()][::-1]
    assert tuple(chain) == schema.KNOWN_REVISIONS
    assert scripts.get_heads() == [schema.HEAD]


def test_not_an_actsearch_database(db):
    with db.engine().begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO users (id, name) VALUES (1, 'ann')"))
    with pytest.raises(StoreError, match="is not an actsearch database") as err:
        Store.open(db.url)
    assert "\n" not in str(err.value) and "users" in str(err.value)
    with db.engine().connect() as conn:  # nothing was written
        assert {r for (r,) in conn.execute(text("SELECT name FROM users"))} == {"ann"}
        assert set(sa_inspect(conn).get_table_names()) == {"users"}


def test_foreign_alembic_database(db):
    with db.engine().begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('abc123')"))
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StoreError, match="is not an actsearch database"):
        Store.open(db.url)


def test_newer_schema_is_refused(db):
    store = db.open()
    populate(store)
    store.close()
    with db.engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StoreError, match="created by a newer actsearch") as err:
        Store.open(db.url)
    assert "\n" not in str(err.value)
    assert _revision(db) == {"0099"}  # untouched


def test_old_schema_is_migrated_keeping_rows(db):
    engine = db.engine()
    with schema.write_engine(engine).connect() as conn, conn.begin():
        schema.upgrade(conn, "0001")
    with engine.begin() as conn:
        cols = {c["name"] for c in sa_inspect(conn).get_columns("candidates")}
        assert "complexity" not in cols and "fitness_std" not in cols
        now = "2024-01-01 00:00:00"
        conn.execute(
            text(
                "INSERT INTO runs (name, status, task, space, seed, config, created_at, updated_at,"
                " actsearch_version) VALUES ('old', 'finished', 'mnist1d', 's', 3, '{\"a\": 1}',"
                f" '{now}', '{now}', '0.0.1')"
            )
        )
        run_id = conn.execute(text("SELECT id FROM runs WHERE name = 'old'")).scalar_one()
        cid = {}
        for n, expr in ((1, "x"), (2, "x*x")):
            conn.execute(
                text(
                    "INSERT INTO candidates (run_id, expr, fingerprint, generation, origin,"
                    " is_baseline, status, fitness, created_at, updated_at) VALUES"
                    f" ({run_id}, '{expr}', 'f{n}', {n - 1}, 'init', false, 'evaluated', 0.{n},"
                    f" '{now}', '{now}')"
                )
            )
            cid[n] = conn.execute(text(f"SELECT id FROM candidates WHERE expr = '{expr}'")).scalar_one()
        conn.execute(text(f"INSERT INTO candidate_parents VALUES ({cid[2]}, 0, {cid[1]})"))
        conn.execute(
            text(
                "INSERT INTO evaluations (candidate_id, task, seed, budget, status, is_partial,"
                " fitness, val_accuracy, epochs, created_at) VALUES"
                f" ({cid[2]}, 'mnist1d', 0, 5, 'ok', false, 0.2, 0.2, 5, '{now}')"
            )
        )
    assert _revision(db) == {"0001"}

    store = db.open()
    assert _revision(db) == {schema.HEAD}
    run = store.find_run("old")
    assert run.config == {"a": 1} and run.notes is None and run.status == "finished"
    cands = store.candidates(run.id)
    assert [(c.expr, c.complexity, c.fitness_std, c.parents) for c in cands] == [
        ("x", None, None, ()),
        ("x*x", None, None, (cid[1],)),
    ]
    assert [e.fitness for e in store.evaluations(cid[2])] == [0.2]
    assert [r.candidate_id for r in store.leaderboard(run="old")] == [cid[2], cid[1]]
    # the migrated database takes new rows with the new columns
    c = store.add_candidate(
        run.id,
        expr="tanh(x)",
        fingerprint="f3",
        complexity=2,
        generation=2,
        parents=[cid[2]],
        origin="mutation:point",
        status="queued",
    )
    assert store.finish_candidate(c.id, fitness=0.5, fitness_std=0.1).fitness_std == 0.1
    assert store.create_run("new", task="t", space="s", seed=0, config={}, notes="migrated").notes == "migrated"


def test_planned_epochs_migration_keeps_rows_both_ways(db):
    """0004 -> 0005 renames evaluations/validations.budget to planned_epochs (and the
    unique index) without losing a row, partial readings included; and back."""
    from datetime import UTC, datetime

    from alembic import command

    from actsearch.store.validations import Validations

    engine = db.engine()
    with schema.write_engine(engine).connect() as conn, conn.begin():
        schema.upgrade(conn, "0004")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        run_id = conn.execute(
            text(
                "INSERT INTO runs (name, status, task, space, seed, config, created_at, updated_at,"
                " actsearch_version) VALUES ('old', 'finished', 't', 's', 0, '{}', :now, :now, '0.1')"
                " RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        cid = conn.execute(
            text(
                "INSERT INTO candidates (run_id, expr, fingerprint, generation, origin, is_baseline,"
                " status, created_at, updated_at) VALUES (:run, 'x', 'f', 0, 'init', :no, 'evaluated',"
                " :now, :now) RETURNING id"
            ),
            {"run": run_id, "no": False, "now": now},
        ).scalar_one()
        insert = text(
            "INSERT INTO evaluations (candidate_id, task, seed, budget, status, is_partial, partial_of,"
            " fitness, epochs, created_at) VALUES (:c, 't', 0, :budget, 'ok', :partial, :of, 0.5,"
            " :budget, :now) RETURNING id"
        )
        final = conn.execute(insert, {"c": cid, "budget": 6, "partial": False, "of": None, "now": now}).scalar_one()
        conn.execute(insert, {"c": cid, "budget": 2, "partial": True, "of": final, "now": now})
        conn.execute(
            text(
                "INSERT INTO validations (expr, task, seed, budget, status, fitness, epochs, created_at)"
                " VALUES ('x', 't', 10000, 6, 'ok', 0.4, 6, :now)"
            ),
            {"now": now},
        )
    assert _revision(db) == {"0004"}

    with db.open() as store:  # migrates to head
        assert _revision(db) == {schema.HEAD}
        rows = store.evaluations(cid)
        assert [(e.planned_epochs, e.is_partial, e.partial_of) for e in rows] == [(6, False, None), (2, True, final)]
        assert [r.planned_epochs for r in Validations(store).saved(["x"], "t", 6).values()] == [6]
    with engine.connect() as conn:
        indexes = {i["name"] for i in sa_inspect(conn).get_indexes("validations")}
        assert "ix_validations_expr_task_seed_planned_epochs" in indexes
        assert "ix_validations_expr_task_seed_budget" not in indexes

    with schema.write_engine(engine).connect() as conn, conn.begin():
        command.downgrade(schema.alembic_config(conn), "0004")
    assert _revision(db) == {"0004"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT budget, partial_of FROM evaluations ORDER BY id")).all() == [
            (6, None),
            (2, final),
        ]
        assert conn.execute(text("SELECT budget, fitness FROM validations")).all() == [(6, 0.4)]
        indexes = {i["name"] for i in sa_inspect(conn).get_indexes("validations")}
        assert "ix_validations_expr_task_seed_budget" in indexes

    with engine.begin() as conn:  # a database from a later actsearch: still one clear line
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match=f"newer actsearch.*knows up to {schema.HEAD}") as err:
        Store.open(db.url)
    assert "\n" not in str(err.value)


def test_open_without_create(db):
    with pytest.raises(StoreError):
        Store.open(db.url, create=False)
    db.open().close()
    Store.open(db.url, create=False).close()


# ---------------------------------------------------------------- SQLite specifics


def test_sqlite_path_handling_and_pragmas(tmp_path, monkeypatch):
    target = tmp_path / "deep" / "er" / "results.db"
    with Store.open(str(target)) as store:
        assert store.path == target and target.exists()
        assert store.backend == "sqlite"
        with store.read_session() as s:
            conn = s.connection()
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    with Store.open(f"sqlite:///{target}") as store:
        assert store.path == target
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:  # default: runs/actsearch.db under the working directory
        assert store.path == tmp_path / "runs" / "actsearch.db"
    with pytest.raises(StoreError, match="directory"):
        Store.open(str(tmp_path))
    with pytest.raises(StoreError, match="no actsearch database"):
        Store.open(str(tmp_path / "missing.db"), create=False)
    assert not (tmp_path / "missing.db").exists()


def test_sqlite_garbage_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a database\n" * 200)
    with pytest.raises(StoreError, match="not an actsearch database") as err:
        Store.open(str(bad))
    assert "\n" not in str(err.value)
    assert bad.read_text() == "this is not a database\n" * 200


def test_memory_database():
    with Store.open(":memory:") as store:
        populate(store)
        assert len(store.leaderboard(k=None)) == 7


def test_url_resolution(tmp_path):
    url = schema.resolve_url("postgresql://u:secret@localhost:5432/db")
    assert url.drivername == "postgresql+psycopg" and url.password == "secret"
    assert schema.resolve_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert schema.resolve_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert "secret" not in schema.display_url(url)
    assert schema.resolve_url(str(tmp_path / "a.db")).database == str(tmp_path / "a.db")
    with pytest.raises(StoreError, match="no driver"):
        Store.open("nonsense://host/db")


def test_unreachable_server_is_one_line_error():
    with pytest.raises(StoreError, match="cannot open") as err:
        Store.open("postgresql://nobody:pw@127.0.0.1:1/nothing?connect_timeout=2")
    assert "\n" not in str(err.value) and "pw" not in str(err.value)


def test_import_is_light(tmp_path):
    """`import actsearch.store` must not pull SQLAlchemy/Alembic/TensorFlow/Ray,
    and opening an up-to-date database must not import Alembic."""
    path = tmp_path / "x.db"
    Store.open(str(path)).close()
    code = (
        "import sys\n"
        "import actsearch.store\n"
        "heavy = {'sqlalchemy', 'alembic', 'tensorflow', 'ray'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "from actsearch.store import Store\n"
        f"s = Store.open({str(path)!r}); s.leaderboard(); s.runs(); s.close()\n"
        "heavy = {'alembic', 'tensorflow', 'ray'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr


def test_sqlite_lock_contention_is_retried(tmp_path, monkeypatch):
    """Past SQLite's own busy timeout, writes retry with backoff, then give up cleanly."""
    import sqlite3
    import threading

    path = tmp_path / "locked.db"
    Store.open(str(path)).close()
    monkeypatch.setattr(schema, "SQLITE_BUSY_TIMEOUT_MS", 50)
    store = Store.open(str(path))

    def hold(seconds: float, ready: threading.Event) -> None:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        con.execute("COMMIT")
        con.close()

    ready = threading.Event()
    holder = threading.Thread(target=hold, args=(0.8, ready))
    holder.start()
    ready.wait()
    t0 = time.monotonic()
    run = store.create_run("r", task="t", space="s", seed=0, config={})  # waits, retries, succeeds
    assert time.monotonic() - t0 >= 0.5 and store.find_run("r") == run
    holder.join()

    store.retry_seconds = 0.3
    ready = threading.Event()
    holder = threading.Thread(target=hold, args=(1.5, ready))
    holder.start()
    ready.wait()
    with pytest.raises(StoreError, match="stayed locked"):
        store.set_run_status(run.id, "finished")
    holder.join()
    assert store.set_run_status(run.id, "finished").status == "finished"
    store.close()
