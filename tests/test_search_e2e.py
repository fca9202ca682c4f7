"""End to end: a real two-generation search on local Ray, then the CLI on its SQLite file."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import TINY_SPACE, run_cli

pytestmark = pytest.mark.slow  # real trainings, Ray or CLI searches: `make test-fast` skips them


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_search_writes_every_proposal_and_result(tiny_search: dict) -> None:
    db = tiny_search["db"]
    (status,) = _rows(db, "select status from runs where name = 'tiny-1'")[0]
    assert status == "finished"
    candidates = _rows(db, "select status, is_baseline, generation, origin, fitness from candidates")
    proposals = [c for c in candidates if not c[1]]
    trained = [c for c in proposals if c[0] in ("evaluated", "failed")]
    assert len(trained) == 12 <= len(proposals)  # budget: population 6 x 2 generations trainings
    assert {0, 1} <= {c[2] for c in proposals}
    assert {c[0] for c in proposals} <= {"evaluated", "rejected", "duplicate", "failed"}
    assert any(c[0] == "evaluated" for c in proposals)
    assert all(c[3] != "init" for c in proposals if c[2] == 1)
    baselines = [c for c in candidates if c[1]]
    assert len(baselines) == 2 and all(c[0] == "evaluated" and c[4] > 0.1 for c in baselines)
    evaluated = sum(1 for c in candidates if c[0] == "evaluated")
    (trainings,) = _rows(db, "select count(*) from evaluations where status = 'ok'")[0]
    assert trainings == evaluated  # one seed each; duplicates and rejects were not trained
    workers = {w for (w,) in _rows(db, "select distinct worker from evaluations")}
    assert len(workers) == 2, workers  # both Ray workers trained


def test_trained_candidates_are_stored_in_the_form_their_worker_trained(tiny_search: dict) -> None:
    """The search sends the light form; the Ray worker canonicalises it and reports it."""
    from actsearch.expr import Activation

    for (expr,) in _rows(tiny_search["db"], "select expr from candidates where status = 'evaluated'"):
        assert expr == str(Activation.parse(expr))  # canonical: a fixed point


def test_rejected_candidates_keep_their_reason(tiny_search: dict) -> None:
    for status, reason in _rows(tiny_search["db"], "select status, reason from candidates"):
        if status in ("rejected", "duplicate"):
            assert reason


def test_search_prints_leaderboard_and_export_path(tiny_search: dict) -> None:
    out = tiny_search["stdout"]
    assert "leaderboard" in out and "(baseline)" in out
    assert "exported to" in out
    busy = re.search(r"workers busy training (\d+)% of the time", out)  # 2 real workers, real trainings
    assert busy and 0 < int(busy.group(1)) <= 100, out[-2000:]
    exported = list((tiny_search["workdir"] / "exports").glob("tiny-1_best.py"))  # beside results.db
    assert exported
    figure = tiny_search["workdir"] / "reports" / "tiny-1.png"
    assert str(figure) in out.replace("\n", "")  # says where it went
    assert not (tiny_search["workdir"] / "runs").exists()
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_top_json(tiny_search: dict) -> None:
    proc = run_cli("top", "--db", str(tiny_search["db"]), "--run", "tiny-1", "-k", "5", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert 1 <= len(rows) <= 5
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all({"rank", "candidate_id", "expr", "fitness", "baseline"} <= set(r) for r in rows)
    fitness = [r["fitness"] for r in rows]
    assert fitness == sorted(fitness, reverse=True)
    assert any(r["baseline"] for r in rows) or len(rows) == 5


@pytest.mark.long  # `make test-long`
def test_same_seed_proposes_same_candidates(tiny_search: dict, tmp_path: Path) -> None:
    """A second run with the same seed and space proposes the same genotypes (local executor)."""
    db = tmp_path / "again.db"
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
        "--executor",
        "local",
        "--no-export",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sql = "select genotype from candidates where not is_baseline order by ask_seq"
    assert _rows(db, sql) == _rows(tiny_search["db"], sql)


def test_export_reloads_keras_model_in_fresh_process(tiny_search: dict, tmp_path: Path) -> None:
    module = tmp_path / "best_act.py"
    proc = run_cli("export", "--db", str(tiny_search["db"]), "--run", "tiny-1", "--rank", "1", "-o", str(module))
    assert proc.returncode == 0, proc.stderr
    expr = json.loads(
        run_cli("top", "--db", str(tiny_search["db"]), "--run", "tiny-1", "-k", "1", "--format", "json").stdout
    )[0]["expr"]
    save = textwrap.dedent(f"""
        import numpy as np, keras
        from best_act import activation
        from actsearch.expr import Activation
        x = np.linspace(-5, 5, 101).astype("float32")
        expected = Activation.parse({expr!r}).numpy(x.astype("float64"))
        got = np.asarray(activation(x))
        assert np.allclose(got, expected, rtol=1e-4, atol=1e-5), (got, expected)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation=activation),
                                  keras.layers.Dense(2)])
        model.save("m.keras")
        np.save("out.npy", model.predict(np.ones((3, 4)), verbose=0))
    """)
    load = textwrap.dedent("""
        import numpy as np, keras
        import best_act  # registers the activation
        model = keras.models.load_model("m.keras")
        assert np.allclose(model.predict(np.ones((3, 4)), verbose=0), np.load("out.npy"), atol=1e-6)
        print("reloaded", model.layers[0].activation.__name__)
    """)
    for script in (save, load):
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "reloaded actsearch_" in done.stdout


def test_bad_inputs_end_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: mnist1d-mlp\nprimitives:\n  unary: [nope]\n")
    db = tmp_path / "never.db"
    cases = [
        ("search", "--space", str(bad), "--db", str(db)),
        ("search", "--space", str(TINY_SPACE), "--task", "no-such-task", "--db", str(db)),
        ("evaluate", "--task", "mnist1d-mlp", "--expr", "x +* 2", "--json"),
        ("export", "--expr", "__import__('os')", "-o", str(tmp_path / "x.py")),
        ("top", "--db", str(db)),
    ]
    for args in cases:
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, proc.stderr)
    assert not db.exists()  # nothing written


def test_runs_show_and_csv(tiny_search: dict) -> None:
    db = str(tiny_search["db"])
    runs = run_cli("runs", "--db", db)
    assert runs.returncode == 0 and "tiny-1" in runs.stdout and "finished" in runs.stdout
    top = run_cli("top", "--db", db, "--run", "tiny-1")
    assert "functional duplicates" in top.stdout and "rejected by screening" in top.stdout
    csv_out = run_cli("top", "--db", db, "--format", "csv", "-k", "3")
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("rank,candidate_id,run,expr,fitness") and len(lines) == 4
    best_id = json.loads(run_cli("top", "--db", db, "--format", "json", "-k", "1").stdout)[0]["candidate_id"]
    show = run_cli("show", str(best_id), "--db", db)
    assert show.returncode == 0 and "evaluations" in show.stdout and "fingerprint" in show.stdout
    with sqlite3.connect(db) as conn:
        child = conn.execute(
            "select c.id from candidates c join candidate_parents p on p.child_id = c.id limit 1"
        ).fetchone()
        rejected = conn.execute("select id, reason from candidates where status = 'rejected' limit 1").fetchone()
    if child:
        assert "lineage" in run_cli("show", str(child[0]), "--db", db).stdout
    if rejected:
        assert rejected[1] in run_cli("show", str(rejected[0]), "--db", db).stdout.replace("\n", " ")
    missing = run_cli("show", "99999", "--db", db)
    assert missing.returncode == 2 and missing.stderr.startswith("error:")


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table invoices (id integer primary key)")
    proc = run_cli("top", "--db", str(db))
    assert proc.returncode == 2
    assert "not an actsearch database" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.long  # `make test-long`
def test_validate_scores_on_the_test_split(tiny_search: dict, tmp_path: Path) -> None:
    proc = run_cli(
        "validate",
        "--db",
        str(tiny_search["db"]),
        "--run",
        "tiny-1",
        "--top",
        "1",
        "--tasks",
        "digits-mlp",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--workers",
        "2",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    scores = report["scores"]
    baselines = {s["expr"] for s in scores if s["baseline"]}
    assert baselines == {"relu(x)", "x*sigmoid(x)", "gelu(x)", "tanh(x)"}
    evolved = [s for s in scores if not s["baseline"]]
    assert len(evolved) == 1 and set(report["beats_all_baselines_on"]) == {evolved[0]["expr"]}
    for score in scores:
        assert score["task"] == "digits-mlp" and len(score["fitnesses"]) == 2
    assert all(0.1 < s["mean"] <= 1 for s in scores if s["mean"] is not None)


def test_held_out_data_puts_test_split_in_place_of_validation() -> None:
    from actsearch.tasks import get_task
    from actsearch.validate import held_out

    data = get_task("digits-mlp").get_data()
    swapped = held_out(data)
    assert swapped.x_val is data.x_test and swapped.y_val is data.y_test
    assert swapped.x_train is data.x_train


def test_parametric_export_learns_its_constants_and_reloads(tmp_path: Path) -> None:
    module = tmp_path / "adaptive_act.py"
    proc = run_cli("export", "--expr", "x * sigmoid(1.5*x)", "--parametric", "-o", str(module))
    assert proc.returncode == 0, proc.stderr
    script = textwrap.dedent("""
        import numpy as np, keras
        from adaptive_act import ParametricActivation, activation
        layer = ParametricActivation()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), layer, keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        before = [float(w) for w in layer.constants]
        assert before == [1.5], before
        model.fit(x, x[:, :2] ** 2, epochs=3, verbose=0)
        after = [float(w) for w in layer.constants]
        assert after != before, "the constant was not learned"
        model.save("p.keras")
        again = keras.models.load_model("p.keras")
        assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
        print("learned", before, "->", after)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "learned" in done.stdout
