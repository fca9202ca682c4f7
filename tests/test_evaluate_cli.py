"""`actsearch evaluate`: one training as before, several (expr, seed) pairs batched."""

from __future__ import annotations

import json

import pytest
from support import run_cli

pytestmark = pytest.mark.slow


def test_evaluate_several_expressions_and_seeds_prints_a_list() -> None:
    proc = run_cli(
        "evaluate",
        "--task",
        "digits-mlp",
        "--expr",
        "x * sigmoid(x)",
        "--expr",
        "tanh(x)",
        "--seeds",
        "2",
        "--seed",
        "5",
        "--epochs",
        "1",
        "--batch-candidates",
        "2",  # the CPU default batches one candidate's seeds only
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [(r["expr"], r["seed"]) for r in rows] == [
        ("x*sigmoid(x)", 5),
        ("x*sigmoid(x)", 6),
        ("tanh(x)", 5),
        ("tanh(x)", 6),
    ]
    for r in rows:
        assert r["status"] == "ok" and 0.1 < r["val_accuracy"] <= 1
        assert r["epochs"] == 1 and r["batch_size"] == 64 and r["steps"] > 0
        assert r["batch_seconds"] >= r["train_seconds"] > 0
    assert len({r["batch_seconds"] for r in rows}) == 1  # one batch
    assert rows[0]["val_loss"] != rows[1]["val_loss"]  # the seeds differ


def test_evaluate_one_expression_prints_one_object() -> None:
    proc = run_cli("evaluate", "--task", "digits-mlp", "--expr", "tanh(x)", "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(row, dict) and row["expr"] == "tanh(x)" and row["seed"] == 0 and row["status"] == "ok"
    for key in ("val_accuracy", "val_loss", "train_seconds", "epochs", "steps", "batch_size"):
        assert key in row
    assert row["epochs"] == 1 and row["steps"] > 0 and 0.1 < row["val_accuracy"] <= 1.0


def test_evaluate_bad_expression_is_one_line_exit_2() -> None:
    proc = run_cli("evaluate", "--task", "digits-mlp", "--expr", "tanh(x)", "--expr", "x +* 2", "--json")
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
