"""`actsearch evaluate`: one training as before, several (expr, seed) pairs batched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT, run_cli

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


_WORKER_SCRIPT = r"""
import json
from dataclasses import asdict
from actsearch.execute import Trial
from actsearch.execute.worker import TrainingWorker
worker = TrainingWorker(("mnist1d-mlp",), None, threads=1)
print(json.dumps(asdict(worker.run(Trial(1, 1, "x * tanh(x)", 3, epochs=2, task="mnist1d-mlp")))))
"""


def test_evaluate_gives_the_number_a_search_worker_stores() -> None:
    """`evaluate` runs TensorFlow as a search worker does (one thread), so re-running a
    stored candidate with its seed gives the stored numbers, to the last bit."""
    worker = subprocess.run(
        [sys.executable, "-c", _WORKER_SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    stored = json.loads(worker.stdout.strip().splitlines()[-1])
    proc = run_cli(
        "evaluate", "--task", "mnist1d-mlp", "--expr", "x * tanh(x)", "--seed", "3", "--epochs", "2", "--json"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluated = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stored["status"] == evaluated["status"] == "ok"
    assert (evaluated["val_loss"], evaluated["val_accuracy"]) == (stored["val_loss"], stored["val_accuracy"])
