"""`validate`: fresh seeds, significance verdicts, stored and reused results."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from support import run_cli

from actsearch.results import EvalResult
from actsearch.store import Store
from actsearch.store.validations import Validations
from actsearch.validate import (
    SEED_START,
    Score,
    SeedOverlapError,
    choose_seeds,
    discoveries,
    flat_rows,
    seed_spread,
    summaries,
    summarise,
    summary_line,
    summary_rows,
    verdicts,
)

BASELINES = {"relu(x)": (0.80, 0.81, 0.80, 0.82), "tanh(x)": (0.85, 0.84, 0.86, 0.85)}


def scores(evolved: tuple[float | None, ...]) -> list[Score]:
    return [Score("x*tanh(x)", False, "t", evolved)] + [Score(e, True, "t", f) for e, f in BASELINES.items()]


def test_seeds_are_fresh_by_default_and_overlap_is_refused() -> None:
    assert choose_seeds(3, {0, 1, 2}) == [SEED_START, SEED_START + 1, SEED_START + 2]
    assert choose_seeds(2, {0, SEED_START, SEED_START + 4}) == [SEED_START + 5, SEED_START + 6]
    assert choose_seeds(2, {0, 1}, start=50) == [50, 51]
    with pytest.raises(SeedOverlapError, match="already trained with"):
        choose_seeds(3, {0, 1, 2}, start=2)


def test_better_only_when_every_baseline_is_beaten_significantly() -> None:
    clear = scores((0.90, 0.91, 0.92, 0.90))
    assert discoveries(clear) == {"x*tanh(x)": ["t"]}
    (verdict,) = verdicts(clear)
    assert [v.baseline for v in verdict.versus] == list(BASELINES)
    assert all(v.p_holm >= v.comparison.p for v in verdict.versus)
    # beats relu clearly but tanh only by noise: not a discovery
    assert discoveries(scores((0.86, 0.84, 0.87, 0.85))) == {"x*tanh(x)": []}
    # a failed seed: no verdict of "better", whatever the mean of the others
    assert discoveries(scores((0.95, 0.96, None, 0.97))) == {"x*tanh(x)": []}


def test_flat_rows_one_per_comparison() -> None:
    rows = flat_rows(scores((0.90, 0.91, 0.92, 0.90)))
    assert [(r["expr"], r["vs"]) for r in rows] == [
        ("x*tanh(x)", "relu(x)"),
        ("x*tanh(x)", "tanh(x)"),
        ("relu(x)", None),
        ("tanh(x)", None),
    ]
    assert rows[0]["ci_low"] < rows[0]["diff"] < rows[0]["ci_high"] and rows[0]["better"] is True


# Two baselines with the same seed spread on every task: per-seed variance 0.0004/3 each,
# so the pooled standard deviation is 0.02/sqrt(3) and a difference d is d*sqrt(3)/0.02 spreads.
RELU = (0.80, 0.82, 0.80, 0.82)  # mean 0.81
TANH = (0.84, 0.86, 0.84, 0.86)  # mean 0.85: the best baseline everywhere
PICK = {
    "a": (0.90, 0.92, 0.90, 0.92),  # 0.91: beats both
    "b": (0.84, 0.86, 0.84, 0.86),  # 0.85: beats relu, ties tanh (equal)
    "c": (0.70, 0.72, 0.70, 0.72),  # 0.71: worse than both
    "d": (0.73, 0.93, 0.73, 0.93),  # 0.83, noisy: ties both
}


def suite_scores(pick: dict[str, tuple[float | None, ...]] = PICK) -> list[Score]:
    out = []
    for task, fitnesses in pick.items():
        out += [Score("x*tanh(x)", False, task, fitnesses), Score("relu(x)", True, task, RELU)]
        out.append(Score("tanh(x)", True, task, TANH))
    return out


def test_summary_counts_wins_ties_losses_and_the_normalised_difference() -> None:
    (summary,) = summaries(suite_scores())
    assert (summary.wins, summary.ties, summary.losses) == (3, 3, 2)
    assert (summary.baselines, summary.tasks) == (2, 4)
    unit = 0.02 / math.sqrt(3)
    assert seed_spread([Score("relu(x)", True, "a", RELU), Score("tanh(x)", True, "a", TANH)]) == pytest.approx(unit)
    expected = {"a": 3 * math.sqrt(3), "b": 0.0, "c": -7 * math.sqrt(3), "d": -math.sqrt(3)}
    assert summary.normalised == pytest.approx(expected)
    assert summary.mean_normalised == pytest.approx(-5 * math.sqrt(3) / 4)

    line = summary_line("x*tanh(x)", summarise(suite_scores(), [1, 2, 3, 4])["summary"]["x*tanh(x)"])
    assert line == (
        "SUMMARY  x*tanh(x)  wins 3 / ties 3 / losses 2 vs 2 baselines on 4 tasks; "
        "mean normalised difference -2.17 (units of each task's seed spread)"
    )
    (row,) = summary_rows(suite_scores())
    assert row == pytest.approx(
        {"expr": "x*tanh(x)", "wins": 3, "ties": 3, "losses": 2, "baselines": 2, "tasks": 4,
         "mean_normalised_difference": -5 * math.sqrt(3) / 4}
    )  # fmt: skip


def test_summary_with_a_failed_seed_or_no_spread() -> None:
    # a failed seed on "a": never a win there, and no normalised difference (nor a mean over tasks)
    (failed,) = summaries(suite_scores({**PICK, "a": (0.90, 0.92, None, 0.92)}))
    assert (failed.wins, failed.ties, failed.losses) == (1, 5, 2)
    assert failed.normalised["a"] is None and failed.mean_normalised is None
    # one seed each: no spread, no test; every comparison a tie
    one_seed = [Score("x*tanh(x)", False, "t", (0.9,)), Score("relu(x)", True, "t", (0.8,))]
    (single,) = summaries([*one_seed, Score("tanh(x)", True, "t", (0.7,))])
    assert (single.wins, single.ties, single.losses, single.tasks) == (0, 2, 0, 1)
    assert single.normalised == {"t": None} and single.mean_normalised is None
    assert seed_spread([Score("relu(x)", True, "t", (0.8, 0.8))]) is None  # no variance: undefined too


def result(status: str, fitness: float | None) -> EvalResult:
    return EvalResult(status, fitness, fitness, 0.5, 1.0, 1, 10, 64)


def test_store_keeps_reusable_results_and_the_seeds_a_run_trained(tmp_path: Path) -> None:
    with Store.open(tmp_path / "v.db") as store:
        run = store.create_run("r", task="digits-mlp", space="tiny", seed=3, config={})
        cand = store.add_candidate(
            run.id, expr="x*tanh(x)", fingerprint="f", complexity=4, generation=0, origin="init", status="evaluated"
        )
        for seed in (3, 4):
            store.add_evaluation(cand.id, task="digits-mlp", seed=seed, planned_epochs=2, result=result("ok", 0.8))
        other = store.create_run("o", task="digits-mlp", space="tiny", seed=7, config={})
        base = store.add_candidate(
            other.id,
            expr="relu(x)",
            fingerprint="g",
            complexity=2,
            generation=0,
            origin="baseline",
            is_baseline=True,
            status="evaluated",
        )
        store.add_evaluation(base.id, task="digits-mlp", seed=7, planned_epochs=2, result=result("ok", 0.7))

        v = Validations(store)
        assert v.trained_seeds(run.id, ["x*tanh(x)"]) == {3, 4}
        assert v.trained_seeds(run.id, ["x*tanh(x)", "relu(x)"]) == {3, 4, 7}
        v.save(
            expr="x*tanh(x)", task="digits-mlp", seed=10_000, planned_epochs=2, result=result("ok", 0.9), run_id=run.id
        )
        v.save(expr="x*tanh(x)", task="digits-mlp", seed=10_001, planned_epochs=2, result=result("timeout", None))
        assert set(v.saved(["x*tanh(x)"], "digits-mlp", 2)) == {("x*tanh(x)", 10_000)}
        assert v.saved(["x*tanh(x)"], "digits-mlp", 3) == {}
        v.save(expr="x*tanh(x)", task="digits-mlp", seed=10_001, planned_epochs=2, result=result("failed", None))
        saved = v.saved(["x*tanh(x)"], "digits-mlp", 2)
        assert saved[("x*tanh(x)", 10_001)].status == "failed" and saved[("x*tanh(x)", 10_000)].fitness == 0.9


@pytest.mark.slow
def test_validate_cli_reuses_stored_results_and_refuses_overlapping_seeds(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    with Store.open(db) as store:
        run = store.create_run("r", task="digits-mlp", space="tiny", seed=0, config={})
        cand = store.add_candidate(
            run.id, expr="x*tanh(x)", fingerprint="f", complexity=4, generation=0, origin="init", status="evaluated"
        )
        store.add_evaluation(cand.id, task="digits-mlp", seed=0, planned_epochs=1, result=result("ok", 0.8))
        store.finish_candidate(cand.id, fitness=0.8)
    args = (
        "validate",
        "--db",
        str(db),
        "--run",
        "r",
        "--top",
        "1",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--executor",
        "local",
        "--format",
        "json",
    )
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads(first.stdout)
    assert report["seeds"] == [SEED_START, SEED_START + 1]
    evolved = [s for s in report["scores"] if not s["baseline"]]
    assert [s["expr"] for s in evolved] == ["x*tanh(x)"] and len(evolved[0]["versus"]) == 4
    assert {"expr", "baseline", "task", "mean", "std", "fitnesses"} <= set(evolved[0])
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from validations").fetchone() == (10,)
    again = run_cli(*args)
    assert again.returncode == 0 and json.loads(again.stdout) == report  # nothing retrained, same numbers
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from validations").fetchone() == (10,)

    refused = run_cli(*args[:-2], "--seed-start", "0")
    assert refused.returncode == 2 and "already trained with" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    markdown = run_cli(*args[:-2], "--format", "markdown")
    assert markdown.returncode == 0 and markdown.stdout.startswith("| task | expr |")


@pytest.mark.slow  # 40 one-epoch trainings: about 30 s on 2 cores, so in `make test-long`
@pytest.mark.long
def test_validate_a_suite_prints_each_task_and_the_summary_and_stores_them(tmp_path: Path) -> None:
    db = tmp_path / "suite.db"
    args = ("validate", "--suite", "classic", "--expr", "x*tanh(x)", "--seeds", "2", "--epochs", "1")
    proc = run_cli(*args, "--executor", "local", "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    classic = ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn")
    rows = [line for line in proc.stdout.splitlines() if "x*tanh(x)" in line and "│" in line]
    assert [line.split("│")[1].strip() for line in rows] == list(classic)  # one row of the pick per task
    assert all(f"{b}: " in proc.stdout for b in ("relu(x)", "x*sigmoid(x)", "gelu(x)", "tanh(x)"))
    (summary,) = [line for line in proc.stdout.splitlines() if line.startswith("SUMMARY")]
    assert summary.startswith("SUMMARY  x*tanh(x)  wins ") and "vs 4 baselines on 4 tasks" in summary
    assert "mean normalised difference " in summary and "seed spread" in summary
    with sqlite3.connect(db) as conn:
        stored = conn.execute("select task, count(*), min(seed), max(seed) from validations group by task").fetchall()
    assert sorted(stored) == sorted((t, 10, SEED_START, SEED_START + 1) for t in classic)  # 5 activations x 2 seeds

    again = run_cli(*args, "--executor", "local", "--db", str(db), "--format", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]  # everything reused: nothing trains
    counts = json.loads(again.stdout)["summary"]["x*tanh(x)"]
    assert counts["wins"] + counts["ties"] + counts["losses"] == 16 and list(counts["normalised_difference"]) == list(
        classic
    )
    assert f"wins {counts['wins']} / ties {counts['ties']} / losses {counts['losses']}" in summary
