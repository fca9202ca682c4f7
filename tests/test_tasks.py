"""Tasks: built-in data and models, the user task contract, errors (real TF)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from actsearch.tasks import (
    Task,
    TaskData,
    TaskError,
    TrainingSetup,
    check_task,
    get_task,
    load_mnist1d,
    stratified_split,
    task_names,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "my_task.py"
BUILTINS = ["mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn"]
SHAPES = {
    "mnist1d": {
        "x_train": (3200, 40),
        "y_train": (3200,),
        "x_val": (800, 40),
        "y_val": (800,),
        "x_test": (1000, 40),
        "y_test": (1000,),
    },
    "digits": {
        "x_train": (1078, 64),
        "y_train": (1078,),
        "x_val": (359, 64),
        "y_val": (359,),
        "x_test": (360, 64),
        "y_test": (360,),
    },
}


def test_import_tasks_does_not_import_tensorflow() -> None:
    code = textwrap.dedent("""
        import sys
        import actsearch.tasks, actsearch.train
        from actsearch.tasks import get_task, task_names
        t = get_task("digits-mlp")
        for name in task_names():
            get_task(name)
        bad = [m for m in ("tensorflow", "keras") if m in sys.modules]
        print("LOADED", bad)
        sys.exit(1 if bad else 0)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_task_names() -> None:
    # the teacher, the panel and the teacher family have their own tests (test_teacher.py,
    # test_panel_tasks.py, test_teachers.py)
    from actsearch.tasks.teachers import FAMILY

    panel = ["deep-mlp", "residual-mlp", "transformer", "ood-regression"]
    assert task_names() == [*BUILTINS, "teacher-mlp", *panel, *FAMILY]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_data_fixed_shapes_and_disjoint_splits(name: str) -> None:
    task = get_task(name)
    data = task.get_data()
    assert data.shapes() == SHAPES[name.split("-")[0]]
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    assert set(np.unique(data.y_train)) == set(range(10))
    # same split on every call, from a fresh task object too
    again = get_task(name).get_data()
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, split), getattr(again, split))
    # disjoint: no validation/test row is a training row (up to the handful of
    # exact duplicate images the raw digits data contain)
    train_rows = {row.tobytes() for row in data.x_train}
    for split in ("x_val", "x_test"):
        shared = sum(row.tobytes() in train_rows for row in getattr(data, split))
        assert shared <= 2, (split, shared)


def test_stratified_split_is_a_fixed_partition() -> None:
    y = np.repeat(np.arange(10), 37)
    parts = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    idx = np.concatenate(parts)
    assert sorted(idx.tolist()) == list(range(len(y)))
    again = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    for part in parts:  # every class in every part
        assert set(y[part]) == set(range(10))


def test_mnist1d_generated_locally_cached_and_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = load_mnist1d()
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path))
    state = np.random.get_state()
    load_mnist1d.cache_clear()
    try:
        generated = load_mnist1d()  # generated with make_dataset, written to the cache
        assert np.random.get_state()[1].tolist() == state[1].tolist()  # global RNG untouched
        files = list(tmp_path.glob("mnist1d-*.npz"))
        assert len(files) == 1
        load_mnist1d.cache_clear()
        cached = load_mnist1d()  # read back from the file
    finally:
        load_mnist1d.cache_clear()
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(generated, split), getattr(reference, split))
        np.testing.assert_array_equal(getattr(cached, split), getattr(reference, split))


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_builds_validates_and_trains_one_epoch(name: str) -> None:
    import keras
    import tensorflow as tf

    from actsearch.train import train

    task = check_task(get_task(name))
    model = task.build_model(tf.nn.relu)
    assert isinstance(model, keras.Model)
    assert model.output_shape == (None, 10)
    result = train(task, tf.nn.relu, seed=0, epochs=1)
    assert result.status == "ok", result.error
    assert math.isfinite(result.val_loss) and 0.0 <= result.val_accuracy <= 1.0
    assert result.epochs == 1
    assert result.steps == task.setup.steps_per_epoch(task.get_data().n_train)


def test_training_setup() -> None:
    b = TrainingSetup(epochs=3, batch_size=100, learning_rate=1e-2)
    assert b.optimizer == "adam"
    assert b.steps_per_epoch(3200) == 32 and b.steps_per_epoch(3201) == 33
    assert b.total_steps(3200) == 96
    with pytest.raises(TaskError):
        TrainingSetup(epochs=0, batch_size=1, learning_rate=1e-3)
    with pytest.raises(TaskError, match="optimizer"):
        TrainingSetup(epochs=1, batch_size=1, learning_rate=1e-3, optimizer="lbfgs")


# ------------------------------------------------------------ user tasks


def test_user_task_from_file_loads_and_trains() -> None:
    from actsearch.train import train

    task = get_task(f"{EXAMPLE}:make_task")
    assert isinstance(task, Task) and task.name == "moons-mlp"
    assert task.spec == f"{EXAMPLE}:make_task"
    check_task(task)
    result = train(task, "relu", seed=1)
    assert result.status == "ok", result.error
    assert result.val_accuracy > 0.75

    reg = check_task(get_task(f"{EXAMPLE}:make_regression_task"))
    result = train(reg, "tanh", seed=1)
    assert result.status == "ok", result.error
    assert result.val_accuracy is None
    assert result.fitness == pytest.approx(-result.val_loss, rel=1e-5)  # metric mse == loss
    assert result.fitness < 0


def test_user_task_relative_path_and_module_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert get_task("examples/my_task.py:make_task").name == "moons-mlp"
    pkg = tmp_path / "mytasks_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(EXAMPLE.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_task("mytasks_pkg.tasks:make_task").name == "moons-mlp"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "task_file.py"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    "body, func, match",
    [
        ("def make_task(:\n    pass\n", "make_task", r"cannot import .*SyntaxError"),
        ("x = 1\n", "make_task", r"has no function 'make_task'"),
        ("def make_task():\n    return 42\n", "make_task", r"returned int, expected actsearch.tasks.Task"),
        (
            "def make_task():\n    raise RuntimeError('no data here')\n",
            "make_task",
            r"make_task\(\) raised RuntimeError: no data here",
        ),
        ("import no_such_module_xyz\n", "make_task", r"cannot import .*no_such_module_xyz"),
        ("make_task = 3\n", "make_task", r"not callable"),
    ],
)
def test_broken_user_task_gives_one_line_task_error(tmp_path: Path, body: str, func: str, match: str) -> None:
    path = _write(tmp_path, body)
    spec = f"{path}:{func}"
    with pytest.raises(TaskError, match=match) as info:
        get_task(spec)
    message = str(info.value)
    assert "\n" not in message
    assert spec in message


@pytest.mark.parametrize(
    "spec, match",
    [
        ("no-such-task", r"unknown task 'no-such-task'.*mnist1d-mlp.*digits-cnn"),
        ("missing/file.py:make_task", r"file not found"),
        ("no_such_pkg_xyz.mod:make_task", r"no module named 'no_such_pkg_xyz.mod'"),
        ("examples/my_task.py:", r"expected path/to/file.py:function"),
        ("", r"non-empty"),
    ],
)
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(TaskError, match=match) as info:
        get_task(spec)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_check_task_catches_build_errors() -> None:
    data = get_task("digits-mlp").get_data()

    def bad_model(activation):
        import keras

        inputs = keras.Input(shape=(63,))  # wrong input size
        return keras.Model(inputs, keras.layers.Dense(10, activation=activation)(inputs))

    task = Task(
        name="bad", data=data, build_model=bad_model, setup=TrainingSetup(epochs=1, batch_size=32, learning_rate=1e-3)
    )
    with pytest.raises(TaskError, match=r"task 'bad': model check failed") as info:
        check_task(task)
    assert "\n" not in str(info.value)

    not_a_model = Task(
        name="nm",
        data=data,
        build_model=lambda act: "model",
        setup=TrainingSetup(epochs=1, batch_size=32, learning_rate=1e-3),
    )
    with pytest.raises(TaskError, match="expected keras.Model"):
        check_task(not_a_model)


def test_task_checks_its_fields() -> None:
    setup = TrainingSetup(epochs=1, batch_size=8, learning_rate=1e-3)
    with pytest.raises(TaskError, match="load_data or data"):
        Task(name="t", build_model=lambda a: None, setup=setup)
    with pytest.raises(TaskError, match="unknown loss"):
        Task(name="t", build_model=lambda a: None, setup=setup, data=get_task("digits-mlp").get_data(), loss="hinge")
    with pytest.raises(TaskError, match="x_train has 3 rows but y_train has 2"):
        z = np.zeros((3, 2), np.float32)
        TaskData(z, np.zeros(2), z, np.zeros(3), z, np.zeros(3))
