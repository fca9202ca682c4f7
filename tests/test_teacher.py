"""The known-answer task: a teacher network with a chosen activation generates the data."""

from __future__ import annotations

import numpy as np
import pytest
from support import SPLITS, task_digest

from actsearch.tasks import get_task, task_names
from actsearch.tasks.teacher import TEACHER_EXPR, load_teacher, shape_similarity, teacher_data

#: sha256 of teacher-mlp's data (dtype, shape and bytes of every split) as generated before the
#: teacher was parametrised by (expression, seed): the task must keep these exact bytes.
TEACHER_MLP_DIGEST = "ffd378d91a3f0097e64e1a53eadb98ea2e5bf3fb9bbf95d90bdfb791b4767b21"


def test_teacher_data_are_deterministic_and_standardised() -> None:
    first = load_teacher()
    teacher_data.cache_clear()
    again = load_teacher()
    for split in SPLITS:
        np.testing.assert_array_equal(getattr(first, split), getattr(again, split))
    assert first.x_train.shape == (2000, 10) and len(first.y_val) == 500 and len(first.y_test) == 1000
    y = np.concatenate([first.y_train, first.y_val, first.y_test])
    assert abs(y.mean()) < 1e-3 and abs(y.std() - 1) < 1e-3
    assert "teacher-mlp" in task_names() and get_task("teacher-mlp").higher_is_better is False


def test_teacher_mlp_keeps_its_bytes() -> None:
    teacher_data.cache_clear()
    assert task_digest("teacher-mlp") == TEACHER_MLP_DIGEST
    assert get_task("teacher-mlp").get_data() is teacher_data(TEACHER_EXPR, 20240613)  # one copy per (expr, seed)


def test_shape_similarity_ignores_what_the_network_absorbs() -> None:
    assert shape_similarity(TEACHER_EXPR) == pytest.approx(1.0)
    assert shape_similarity("3 - 2 * tanh(-x) * ((-x)**2 - 1)") == pytest.approx(1.0)  # output affine, input sign
    for baseline in ("relu(x)", "x*sigmoid(x)", "gelu(x)", "tanh(x)"):
        assert shape_similarity(baseline) < 0.7
    assert shape_similarity("2") == 0.0


@pytest.mark.slow
def test_the_teachers_activation_fits_better_than_relu() -> None:
    from actsearch.expr import Activation
    from actsearch.train import train

    task = get_task("teacher-mlp")
    mine = train(task, Activation.parse(TEACHER_EXPR).tf_function(), seed=0)
    relu = train(task, Activation.parse("relu(x)").tf_function(), seed=0)
    assert mine.status == relu.status == "ok"
    assert mine.fitness > relu.fitness  # fitness is -MSE
