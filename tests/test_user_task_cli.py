"""A user task file searched through the CLI, in both documented forms:
`Task(..., load_data=f)` and `Task(..., data=TaskData(...))`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import TINY_SPACE, run_cli

pytestmark = pytest.mark.slow

TASK_FILE = '''
import numpy as np

from actsearch.tasks import Task, TaskData, TrainingSetup, hidden_activation


def blobs() -> TaskData:
    """Two Gaussian blobs in 2-D, 60/20/20 (fixed seed)."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=300).astype(np.int32)
    x = (rng.normal(size=(300, 2)) + 2.0 * y[:, None]).astype(np.float32)
    return TaskData(x[:180], y[:180], x[180:240], y[180:240], x[240:], y[240:])


def build(activation):
    import keras

    inputs = keras.Input(shape=(2,))
    h = keras.layers.Dense(8, activation=hidden_activation(activation))(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def make_task() -> Task:
    return Task(name="blobs", build_model=build, setup=TrainingSetup(epochs=1, batch_size=32,
                learning_rate=1e-2), {form})
'''


@pytest.mark.parametrize("form", ["load_data=blobs", "data=blobs()"])
def test_user_task_file_searches_through_the_cli(tmp_path: Path, form: str) -> None:
    task = tmp_path / "my_task.py"
    task.write_text(TASK_FILE.replace("{form}", form))
    db = tmp_path / "user.db"
    proc = run_cli(
        "search",
        "--space",
        str(TINY_SPACE),
        "--task",
        f"{task}:make_task",
        "--db",
        str(db),
        "--run",
        "user",
        "--population",
        "3",
        "--generations",
        "1",
        "--executor",
        "local",
        "--no-export",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "leaderboard" in proc.stdout
    with sqlite3.connect(db) as conn:
        (task_name,) = conn.execute("select task from runs").fetchone()
        (trained,) = conn.execute("select count(*) from evaluations where status = 'ok'").fetchone()
    assert task_name == f"{task}:make_task" and trained >= 2  # the baselines at least
