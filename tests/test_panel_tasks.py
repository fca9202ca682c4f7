"""The task panel (actsearch/tasks/panel.py): deep-mlp, residual-mlp, transformer and
ood-regression. Fixed, deterministic data; real TensorFlow training, alone and batched;
listed and trained from the command line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from support import ROOT, SPLITS, run_cli, task_digest

from actsearch.tasks import get_task, task_names
from actsearch.tasks import panel as P

PANEL = ["deep-mlp", "residual-mlp", "transformer", "ood-regression"]
SHAPES = {
    "deep-mlp": ((3200, 40), (800, 40), (1000, 40)),
    "residual-mlp": ((3200, 40), (800, 40), (1000, 40)),
    "transformer": ((3000, 12, 6), (1000, 12, 6), (1000, 12, 6)),
    "ood-regression": ((2000, 3), (500, 3), (1000, 3)),
}


def trivial_score(name: str) -> float:
    """What a model that ignores its input scores on the validation split: the most
    frequent class's share, or the MSE of predicting the training mean (0 after
    standardisation)."""
    data = get_task(name).get_data()
    if get_task(name).loss == "mse":
        return float(np.mean((data.y_val - data.y_train.mean()) ** 2))
    return float(np.bincount(data.y_val).max() / len(data.y_val))


def test_the_panel_is_listed_after_the_other_builtins() -> None:
    names = task_names()
    assert names[:5] == ["mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "digits-cnn", "teacher-mlp"]
    assert names[5:9] == PANEL and all(n.startswith("teacher-") for n in names[9:])  # then the teacher family
    for name in PANEL:
        task = get_task(name)
        assert task.name == name and task.spec == name and task.description
        assert task.setup == P.SETUPS[name]
    ood = get_task("ood-regression")
    assert (ood.loss, ood.metric, ood.higher_is_better) == ("mse", "mse", False)
    assert all(get_task(n).metric == "accuracy" and get_task(n).higher_is_better for n in PANEL[:3])


@pytest.mark.parametrize("name", PANEL)
def test_data_shapes_dtypes_read_only_and_regenerated_identically(name: str) -> None:
    data = get_task(name).get_data()
    train, val, test = SHAPES[name]
    assert (data.x_train.shape, data.x_val.shape, data.x_test.shape) == (train, val, test)
    assert (data.y_train.shape, data.y_val.shape, data.y_test.shape) == ((train[0],), (val[0],), (test[0],))
    assert all(getattr(data, s).dtype == np.float32 for s in ("x_train", "x_val", "x_test"))
    y_dtype = np.float32 if name == "ood-regression" else np.int32
    assert all(getattr(data, s).dtype == y_dtype for s in ("y_train", "y_val", "y_test"))
    for split in SPLITS:
        assert not getattr(data, split).flags.writeable
        assert np.all(np.isfinite(getattr(data, split)))
    assert get_task(name).get_data() is data  # cached: one copy per process
    if name in ("transformer", "ood-regression"):  # generated here: generate again from scratch
        loader = P.load_sequences if name == "transformer" else P.load_ood
        loader.cache_clear()
        try:
            again = loader()
        finally:
            loader.cache_clear()
        for split in SPLITS:
            np.testing.assert_array_equal(getattr(data, split), getattr(again, split))


def test_generated_data_are_the_same_bytes_in_another_process() -> None:
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, "tests")
        from support import task_digest
        from test_panel_tasks import PANEL
        print(json.dumps({name: task_digest(name) for name in PANEL}))
        print("TF", "tensorflow" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "TF False"  # data loading never imports TensorFlow
    assert json.loads(lines[-2]) == {name: task_digest(name) for name in PANEL}


@pytest.mark.parametrize("name", ["deep-mlp", "residual-mlp"])
def test_mnist1d_splits_are_the_builtin_ones_and_disjoint(name: str) -> None:
    data = get_task(name).get_data()
    assert data is get_task("mnist1d-mlp").get_data()  # the same fixed split as mnist1d-mlp
    train_rows = {row.tobytes() for row in data.x_train}
    assert not any(row.tobytes() in train_rows for row in data.x_val)
    assert set(np.unique(data.y_train)) == set(range(10))


def test_transformer_labels_count_the_last_token_and_splits_share_no_sequence() -> None:
    data = get_task("transformer").get_data()
    sequences = {}
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        assert np.all(x.sum(axis=-1) == 1)  # one-hot tokens
        tokens = x.argmax(axis=-1)
        np.testing.assert_array_equal(y, P.query_counts(tokens))
        # by hand, for a few rows: copies of the last token before it, 3 for "3 or more"
        for row, label in zip(tokens[:20], y[:20]):
            assert label == min(list(row[:-1]).count(row[-1]), 3)
        sequences[split] = {row.tobytes() for row in tokens}
        assert len(sequences[split]) == len(tokens)
    assert not sequences["train"] & sequences["val"]
    assert not sequences["train"] & sequences["test"]
    assert not sequences["val"] & sequences["test"]
    shares = np.bincount(data.y_train, minlength=4) / len(data.y_train)
    assert shares.min() > 0.1 and shares.max() < 0.35  # chance is far below what relu reaches


def test_ood_regression_trains_inside_the_ball_and_scores_outside() -> None:
    data = get_task("ood-regression").get_data()
    norm = {split: np.linalg.norm(getattr(data, f"x_{split}"), axis=1) for split in ("train", "val", "test")}
    assert norm["train"].max() <= P.TRAIN_RADIUS
    for split in ("val", "test"):
        assert norm[split].min() > P.TRAIN_RADIUS and norm[split].max() <= P.OOD_RADIUS + 1e-6
    # the input ranges are disjoint; validation and test are different draws of the shell
    assert norm["train"].max() < min(norm["val"].min(), norm["test"].min())
    assert not {r.tobytes() for r in data.x_val} & {r.tobytes() for r in data.x_test}
    # targets standardised with the training statistics only: out there they spread wider
    assert abs(float(data.y_train.mean())) < 1e-5 and abs(float(data.y_train.std()) - 1) < 1e-5
    assert trivial_score("ood-regression") > 1.2
    # the targets are the documented function of the inputs
    x = data.x_val[:50].astype(np.float64)
    raw_train = P.ood_target(data.x_train.astype(np.float64))
    standardised = (P.ood_target(x) - raw_train.mean()) / raw_train.std()
    np.testing.assert_allclose(data.y_val[:50], standardised, atol=1e-4)


@pytest.mark.parametrize("name", PANEL)
def test_model_builds_trains_one_epoch_alone_and_batched(name: str) -> None:
    import keras
    import tensorflow as tf

    from actsearch.tasks import check_task
    from actsearch.train import train
    from actsearch.train.batch import BatchMember, train_batch_with_diagnostics

    task = check_task(get_task(name))
    model = task.build_model(tf.nn.relu)
    assert isinstance(model, keras.Model)
    assert model.output_shape == (None, 1 if name == "ood-regression" else 10 if "mlp" in name else 4)
    result = train(task, "relu(x)", seed=0, epochs=1)
    assert result.status == "ok", result.error
    assert result.fitness is not None and math.isfinite(result.fitness) and math.isfinite(result.val_loss)
    assert result.steps == task.setup.steps_per_epoch(task.get_data().n_train)
    members = [BatchMember("relu(x)", 0), BatchMember("tanh(x)", 1)]
    results, diagnostics = train_batch_with_diagnostics(task, members, epochs=1)
    assert diagnostics.batched  # one vectorized program, no fallback to one at a time
    assert [r.status for r in results] == ["ok", "ok"]
    assert all(r.fitness is not None and math.isfinite(r.fitness) for r in results)


#: A reduced but real budget (epochs) per task, and the fitness relu must reach there
#: (measured with seeds 0-2 on one thread: deep-mlp 0.39-0.45, residual-mlp 0.46-0.51,
#: transformer 0.78-0.91, ood-regression MSE 0.47-0.62).
REDUCED = {"deep-mlp": 6, "residual-mlp": 4, "transformer": 3, "ood-regression": 10}


@pytest.mark.slow
@pytest.mark.long  # real trainings of every panel task: in `make test-long`
@pytest.mark.parametrize("name", PANEL)
def test_relu_beats_a_trivial_prediction_at_a_reduced_budget(name: str) -> None:
    from actsearch.train import train

    task = get_task(name)
    result = train(task, "relu(x)", seed=0, epochs=REDUCED[name])
    assert result.status == "ok", result.error
    trivial = trivial_score(name)
    if task.higher_is_better:  # accuracy: well above the most frequent class (0.1 for MNIST-1D)
        assert result.val_accuracy is not None and result.val_accuracy > trivial + 0.2, (result, trivial)
    else:  # fitness is -MSE: at most half the MSE of predicting the training mean
        assert -result.fitness < 0.5 * trivial, (result, trivial)


def test_actsearch_tasks_lists_the_panel() -> None:
    proc = run_cli("tasks", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert list(rows) == task_names()
    for name in PANEL:
        assert rows[name]["description"] == get_task(name).description
        assert rows[name]["epochs"] == P.SETUPS[name].epochs
    assert rows["ood-regression"]["fitness"] == "-mse" and rows["transformer"]["fitness"] == "accuracy"
    table = run_cli("tasks", timeout=120)
    assert table.returncode == 0 and all(name in table.stdout for name in PANEL)


@pytest.mark.slow
def test_actsearch_evaluate_trains_a_panel_task(capsys: pytest.CaptureFixture[str]) -> None:
    from actsearch.cli import main

    # in this process (TensorFlow has started: no second start-up); a fresh process is
    # what tests/test_evaluate_cli.py runs
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--task", "ood-regression", "--expr", "tanh(x)", "--epochs", "2", "--json"])
    out, err = capsys.readouterr()
    assert exit_info.value.code in (0, None), err
    row = json.loads(out.strip().splitlines()[-1])
    assert row["task"] == "ood-regression" and row["status"] == "ok" and row["epochs"] == 2
    assert row["fitness"] < 0 and math.isclose(-row["fitness"], row["val_loss"], rel_tol=1e-5)  # -MSE
