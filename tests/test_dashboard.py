"""The dashboard's server side: read-only opening, views, not-found pages, escaping,
the offline report file. The pages in a real browser: test_dashboard_browser.py."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from starlette.testclient import TestClient
from support import populate, result, run_cli

from actsearch.dashboard import views
from actsearch.dashboard.app import create_app, exposure_warning
from actsearch.store import Store, StoreError

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def filled(tmp_path):
    """A real SQLite store written through the store API: two runs with lineage,
    partial readings, a duplicate, a rejection, and a run with a hostile name."""
    path = tmp_path / "results.db"
    with Store.open(path) as store:
        ids = populate(store)
        evil = store.create_run(EVIL, task="mnist1d", space="tiny", seed=3, config={})
        c = store.add_candidate(
            evil.id, expr="x*sigmoid(x)", fingerprint="fp-e", complexity=4, generation=0, origin="init", status="queued"
        )
        store.add_evaluation(c.id, task="mnist1d", seed=0, planned_epochs=5, result=result(0.5))
        store.finish_candidate(c.id, fitness=0.5, status="evaluated")
        ids["evil"], ids["evil_candidate"] = evil.id, c.id
    return path, ids


@pytest.fixture
def client(filled):
    path, _ = filled
    store = Store.open(path, read_only=True)
    with TestClient(create_app(store)) as test_client:
        yield test_client
    store.close()


def test_readonly_store_reads_but_refuses_every_write(db):
    with db.open() as store:
        ids = populate(store)
        before = store.runs()
    store = Store.open(db.url, read_only=True)
    try:
        assert [r.name for r in store.runs()] == ["demo", "other"]
        assert store.leaderboard(run="demo", k=1)[0].candidate_id == ids["d"]
        with pytest.raises(StoreError, match="(?i)read-only|readonly"):
            store.create_run("nope", task="t", space="s", seed=0, config={})
        with pytest.raises(StoreError, match="(?i)read-only|readonly"):
            store.set_run_status(ids["demo"], "failed")
    finally:
        store.close()
    with db.open() as store:
        assert store.runs() == before


def test_foreign_missing_and_newer_databases_are_refused_with_one_line(tmp_path):
    import sqlite3

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("create table stuff (id integer)")
    newer = tmp_path / "newer.db"
    Store.open(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("update alembic_version set version_num = '9999'")
    cases = (
        (foreign, "not an actsearch database"),
        (newer, "newer actsearch"),
        (tmp_path / "missing.db", "no actsearch database"),
    )
    for path, message in cases:
        with pytest.raises(StoreError, match=message):
            Store.open(path, read_only=True)
    # The commands end in that one line and exit code 2, before serving or writing anything.
    for args, message in (
        (["dashboard", "--db", str(foreign), "--port", "1"], "not an actsearch database"),
        (["report", "--html", "-o", str(tmp_path / "r.html"), "--db", str(newer)], "newer actsearch"),
    ):
        proc = run_cli(*args, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "r.html").exists()


def test_runs_page_escapes_user_text(client):
    page = client.get("/")
    assert page.status_code == 200
    assert EVIL not in page.text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page.text  # inside the page's JSON
    data = client.get("/api/runs").json()
    assert [r["name"] for r in data["runs"]] == ["demo", "other", EVIL]


def test_run_page_and_its_data(client, filled):
    _, ids = filled
    page = client.get(f"/runs/{ids['evil']}")
    assert page.status_code == 200
    assert "<title>Run &lt;script&gt;alert(1)&lt;/script&gt; · actsearch</title>" in page.text
    assert "<script>alert" not in page.text
    data = client.get(f"/api/runs/{ids['demo']}").json()
    with Store.open(filled[0], create=False) as store:
        finals = store.run_evaluations(ids["demo"])
        counts = store.counts(ids["demo"], baselines=False)
        reasons = Counter(c.reason for c in store.candidates(ids["demo"], "rejected"))
    assert data["points"]["evaluation"] == [e.id for e in finals]
    assert data["points"]["fitness"] == [e.fitness for e in finals]
    assert data["run"]["trainings"] == len(finals) and data["run"]["best_id"] == ids["d"]
    assert data["run"]["proposals"] == sum(counts.values()) and data["run"]["planned"] is None
    listed = next(r for r in client.get("/api/runs").json()["runs"] if r["id"] == ids["demo"])
    assert listed == {k: v for k, v in data["run"].items() if k not in ("seed", "notes")}
    assert data["last"] == finals[-1].id
    assert data["counts"] == counts and data["reasons"] == reasons and len(reasons) == 2
    fitness = [step[1] for step in data["best"]]
    assert fitness == sorted(fitness) and len(set(fitness)) == len(fitness)
    assert data["best"][-1][2] == ids["d"]  # the best evolved candidate, not a baseline
    assert data["baselines"][0]["expr"] == "max(x, 0)"
    assert data["leaderboard"][0]["candidate_id"] == ids["d"]
    newer = client.get(f"/api/runs/{ids['demo']}?after={finals[-2].id}").json()
    assert newer["points"]["evaluation"] == [finals[-1].id]
    assert newer["run"] == data["run"] and newer["best"] == data["best"]


def test_candidate_and_compare_views(client, filled):
    _, ids = filled
    assert client.get(f"/candidates/{ids['d']}").status_code == 200
    data = client.get(f"/api/candidates/{ids['d']}").json()
    assert [a["id"] for a in data["lineage"]] == [ids["c"], ids["b"], ids["a"]]
    assert len(data["x"]) == len(data["curve"]["y"]) == len(data["curve"]["dy"]) == views.CURVE_POINTS
    assert set(data["references"]) == {"relu", "Swish", "GELU", "tanh"}
    relu = data["references"]["relu"]["y"]
    assert relu[0] == 0 and relu[-1] == pytest.approx(5.0)
    assert len(data["evaluations"]) == 2 and len(data["partials"]) == 4
    quoted = "'tanh(x) * sigmoid(1.5 * x)'"
    assert data["export"] == f"actsearch export --expr {quoted} --framework keras -o activation_{ids['d']}_keras.py"
    assert list(data["exports"]) == ["keras", "tensorflow", "torch", "jax", "numpy"]
    assert data["exports"]["torch"].endswith(f"--framework torch -o activation_{ids['d']}_torch.py")
    page = client.get(f"/candidates/{ids['d']}").text
    assert f"activation_{ids['d']}_jax.py" in page and "--framework numpy" in page
    compare = client.get(f"/compare?ids={ids['d']},{ids['evil_candidate']}")
    assert compare.status_code == 200
    assert "\\u003cscript\\u003e" in compare.text and "<script>alert" not in compare.text


def test_candidate_page_shows_validation_statistics(tmp_path):
    """Stored `actsearch validate` results: the candidate's mean ± interval, and against
    each of its run's baselines the difference, Holm's p and the verdict; none: the hint."""
    from actsearch.dashboard.offline import write_html_report
    from actsearch.stats import holm, welch
    from actsearch.store.validations import Validations

    path = tmp_path / "results.db"
    tests = {
        "tanh(x) * sigmoid(1.5 * x)": [0.90, 0.92, 0.91],
        "max(x, 0)": [0.70, 0.72, 0.71],
        "x * sigmoid(x)": [0.80, 0.83, 0.81],
        "tanh(x)": [0.99, 0.99, 0.99],  # not a baseline of the run: not compared
    }
    with Store.open(path) as store:
        ids = populate(store)
        store.add_candidate(
            ids["demo"], expr="x * sigmoid(x)", fingerprint="fp-sw", complexity=4, generation=0,
            origin="baseline", is_baseline=True, status="queued",
        )  # fmt: skip
        saved = Validations(store)
        for expr, fitnesses in tests.items():
            for seed, fitness in enumerate(fitnesses, start=10_000):
                saved.save(
                    expr=expr, task="mnist1d", seed=seed, planned_epochs=5, result=result(fitness), run_id=ids["demo"]
                )
        saved.save(
            expr="max(x, 0)", task="mnist1d", seed=10_003, planned_epochs=5, result=result(None, status="failed")
        )
    candidate = tests["tanh(x) * sigmoid(1.5 * x)"]
    p_holm = holm([welch(candidate, tests[b]).p for b in ("max(x, 0)", "x * sigmoid(x)")])
    store = Store.open(path, read_only=True)
    try:
        with TestClient(create_app(store)) as client:
            page = client.get(f"/candidates/{ids['d']}").text
            data = client.get(f"/api/candidates/{ids['d']}").json()["validations"]
            bare = client.get(f"/candidates/{ids['c']}").text
        report = write_html_report(store, tmp_path / "report.html").read_text()
    finally:
        store.close()
    assert [(v["task"], v["planned_epochs"], v["n"], v["better"]) for v in data] == [("mnist1d", 5, 3, True)]
    assert data[0]["mean"] == pytest.approx(0.91)
    assert [b["baseline"] for b in data[0]["versus"]] == ["max(x, 0)", "x * sigmoid(x)"]
    assert [b["p_holm"] for b in data[0]["versus"]] == pytest.approx(p_holm)
    assert data[0]["versus"][1]["diff"] == pytest.approx(0.91 - 0.81333333)
    assert "mean 0.9100 ± " in page and "better on this task" in page
    assert f"<td>{p_holm[0]:.2g}</td>" in page and "No validation results" not in page
    assert "No validation results are stored" in bare and "better on this task" not in bare
    assert "mean 0.9100 ± " in report
    assert "validation-summary" not in page  # one task: no summary across tasks


def test_candidate_page_summarises_validations_on_several_tasks(tmp_path):
    """Validations on two tasks: `actsearch validate`'s summary over them (wins, ties, losses
    against the run's baselines, normalised difference), from each task's fullest validation."""
    import statistics

    from actsearch.dashboard.offline import write_html_report
    from actsearch.store.validations import Validations

    cand, relu, swish = "tanh(x) * sigmoid(1.5 * x)", "max(x, 0)", "x * sigmoid(x)"
    tests = {  # (task, planned epochs) -> expr -> fitness by seed
        ("a", 5): {cand: [0.90, 0.92, 0.91], relu: [0.70, 0.72, 0.71], swish: [0.80, 0.83, 0.81]},
        ("b", 5): {cand: [0.60, 0.61, 0.62], relu: [0.70, 0.72, 0.71], swish: [0.80, 0.83, 0.81]},
        ("a", 1): {cand: [0.10, 0.11, 0.12], relu: [0.70, 0.72, 0.71]},  # fewer epochs: not the one summarised
    }
    path = tmp_path / "results.db"
    with Store.open(path) as store:
        ids = populate(store)
        store.add_candidate(
            ids["demo"], expr=swish, fingerprint="fp-sw", complexity=4, generation=0,
            origin="baseline", is_baseline=True, status="queued",
        )  # fmt: skip
        saved = Validations(store)
        for (task, epochs), by_expr in tests.items():
            for expr, fitnesses in by_expr.items():
                for seed, fitness in enumerate(fitnesses, start=10_000):
                    saved.save(expr=expr, task=task, seed=seed, planned_epochs=epochs, result=result(fitness))
    store = Store.open(path, read_only=True)
    try:
        with TestClient(create_app(store)) as client:
            page = client.get(f"/candidates/{ids['d']}").text
            data = client.get(f"/api/candidates/{ids['d']}").json()
        report = write_html_report(store, tmp_path / "report.html").read_text()
    finally:
        store.close()
    assert [(v["task"], v["planned_epochs"]) for v in data["validations"]] == [("a", 1), ("a", 5), ("b", 5)]
    summary = data["validation_summary"]
    assert (summary["wins"], summary["ties"], summary["losses"]) == (2, 0, 2)
    assert (summary["baselines"], summary["tasks"], summary["planned_epochs"]) == (2, 2, {"a": 5, "b": 5})
    spread = ((statistics.variance(tests["a", 5][relu]) + statistics.variance(tests["a", 5][swish])) / 2) ** 0.5
    best = statistics.fmean(tests["a", 5][swish])
    expected = {task: (statistics.fmean(tests[task, 5][cand]) - best) / spread for task in ("a", "b")}
    assert summary["normalised_difference"] == pytest.approx(expected)
    assert summary["mean_normalised_difference"] == pytest.approx((expected["a"] + expected["b"]) / 2)
    mean = (expected["a"] + expected["b"]) / 2
    line = f"wins 2 / ties 0 / losses 2 against 2 baselines · mean normalised difference {mean:+.2f}"
    for html in (page, report):
        assert "Across 2 tasks:" in html and " ".join(line.split()) in " ".join(html.split())
        assert f"a {expected['a']:+.2f} at 5 epochs; b {expected['b']:+.2f} at 5 epochs" in html


def test_unknown_ids_give_a_clear_not_found_page(client):
    for path in ("/runs/99999", "/candidates/99999", "/compare?ids=99999"):
        page = client.get(path)
        assert page.status_code == 404
        assert re.search(r"no (run|candidate) with id 99999", page.text), page.text
    api = client.get("/api/runs/99999")
    assert api.status_code == 404 and "no run with id 99999" in api.json()["error"]
    assert client.get("/nowhere").status_code == 404


def test_html_report_is_one_self_contained_file(filled, tmp_path):
    path, ids = filled
    out = tmp_path / "report.html"
    proc = run_cli("report", "--html", "-o", str(out), "--db", str(path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    # Nothing is loaded from elsewhere: no script/image sources, no stylesheet links.
    assert not re.search(r"<(script|img|iframe)\b[^>]*\bsrc=", html)
    assert not re.search(r"""<link\b[^>]*\bhref=(?!"data:)""", html)
    assert "Plotly" in html and "<script>alert" not in html
    for anchor in ("runs", f"run-{ids['demo']}", f"candidate-{ids['d']}", "compare"):
        assert f'id="{anchor}"' in html
    only = tmp_path / "demo.html"
    assert run_cli("report", "--html", "--run", "demo", "-o", str(only), "--db", str(path)).returncode == 0
    assert f'id="run-{ids["demo"]}"' in only.read_text() and f'id="run-{ids["other"]}"' not in only.read_text()
    missing = run_cli("report", "--html", "--run", "nope", "-o", str(only), "--db", str(path))
    assert missing.returncode == 2 and "no run named 'nope'" in missing.stderr


def test_only_loopback_is_served_without_a_warning():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert "no authentication" in exposure_warning("0.0.0.0")
    assert "no authentication" in exposure_warning("192.168.1.5")
