"""The trainer, with real (tiny) TensorFlow trainings on mnist1d-mlp."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from actsearch.results import EvalResult
from actsearch.tasks import get_task
from actsearch.train import prepare_data, resolve_activation, train, train_seeds

pytestmark = pytest.mark.slow  # real trainings, Ray or CLI searches: `make test-fast` skips them

EPOCHS = 4  # 4 x 32 = 128 steps of batch 100


@pytest.fixture(scope="module")
def task():
    return get_task("mnist1d-mlp")


@pytest.fixture(scope="module")
def resident(task):
    return prepare_data(task.get_data())


def test_relu_beats_chance_with_setup_fields(task, resident) -> None:
    r = train(task, tf.nn.relu, seed=0, data=resident, epochs=EPOCHS)
    assert isinstance(r, EvalResult)
    assert r.status == "ok", r.error
    assert r.fitness == r.val_accuracy > 0.2
    assert math.isfinite(r.val_loss)
    assert (r.epochs, r.steps, r.batch_size) == (EPOCHS, EPOCHS * 32, 100)
    assert r.train_seconds > 0 and r.error is None and r.partials == ()


def test_same_seed_same_fitness(task, resident) -> None:
    a = train(task, tf.nn.relu, seed=7, data=resident, epochs=2)
    b = train(task, tf.nn.relu, seed=7, data=resident, epochs=2)
    # numpy TaskData (converted inside) gives the same as pre-converted data
    c = train(task, tf.nn.relu, seed=7, data=task.get_data(), epochs=2)
    d = train(task, tf.nn.relu, seed=8, data=resident, epochs=2)
    assert a.status == b.status == c.status == "ok"
    assert abs(a.fitness - b.fitness) <= 1e-6 and abs(a.val_loss - b.val_loss) <= 1e-6
    assert abs(a.fitness - c.fitness) <= 1e-6
    assert (d.fitness, d.val_loss) != (a.fitness, a.val_loss)


@pytest.mark.parametrize(
    "activation",
    [lambda x: x * float("nan"), lambda x: tf.math.log(x - 1e9), lambda x: tf.exp(1e3 * x)],
    ids=["times-nan", "log-negative", "exp-overflow"],
)
def test_non_finite_loss_fails_without_raising(task, resident, activation) -> None:
    r = train(task, activation, seed=0, data=resident, epochs=2)
    assert r.status == "failed"
    assert r.fitness is None and r.val_accuracy is None
    assert "non-finite" in r.error
    assert r.steps <= 2 * 32


def test_exception_in_activation_fails_with_error_text(task, resident) -> None:
    def broken(x):
        raise RuntimeError("boom in activation")

    r = train(task, broken, seed=0, data=resident, epochs=1)
    assert r.status == "failed"
    assert r.error.startswith("RuntimeError: boom in activation")
    assert "\n" not in r.error

    r = train(task, lambda x: tf.reshape(x, [-1, 7]), seed=0, data=resident, epochs=1)
    assert r.status == "failed" and r.error


def test_diagnostics_come_back_with_their_training(task, resident) -> None:
    """Each call returns its own figures: set-up, one segment per compiled call
    (two with a hurdle), the update that ran and the recorded losses; a
    training that fails before its program has none."""
    from actsearch.train import Diagnostics, train_with_diagnostics

    r, d = train_with_diagnostics(task, "tanh(x)", seed=0, data=resident, epochs=2, rungs=((1, -1.0),), record_steps=5)
    plain, d_plain = train_with_diagnostics(task, "tanh(x)", seed=0, data=resident, epochs=2, fused=False)
    assert isinstance(d, Diagnostics) and r.status == plain.status == "ok"
    assert d.setup_seconds > 0 and [(s.epochs, s.steps) for s in d.segments] == [(1, 32), (1, 32)]
    assert all(s.seconds > 0 for s in d.segments)
    assert d.step_losses is not None and d.step_losses.shape == (6,) and np.all(np.isfinite(d.step_losses))
    assert [(s.epochs, s.steps) for s in d_plain.segments] == [(2, 64)] and d_plain.step_losses is None
    assert d_plain.fused_update is False and d.fused_update is not None
    assert r.val_loss == pytest.approx(plain.val_loss, abs=1e-4)  # either update: the same training
    bad, d_bad = train_with_diagnostics(task, "x +", seed=0, data=resident, epochs=1)
    assert bad.status == "failed" and d_bad.segments == [] and d_bad.fused_update is None


def test_hurdle_impossible_threshold_stops_at_hurdle(task, resident) -> None:
    r = train(task, tf.nn.relu, seed=0, data=resident, epochs=6, rungs=((2, 1.01),))
    assert r.status == "stopped"
    assert (r.epochs, r.steps) == (2, 64)
    assert r.fitness == r.val_accuracy is not None
    assert len(r.partials) == 1
    p = r.partials[0]
    assert p.epochs == 2 and p.val_accuracy == r.val_accuracy and p.val_loss == r.val_loss


def test_hurdle_passed_trains_to_the_end_with_partial(task, resident) -> None:
    r = train(task, tf.nn.relu, seed=0, data=resident, epochs=4, rungs=((2, 0.0),))
    assert r.status == "ok"
    assert (r.epochs, r.steps) == (4, 128)
    assert [p.epochs for p in r.partials] == [2]
    # training in two segments is the same training as in one
    plain = train(task, tf.nn.relu, seed=0, data=resident, epochs=4)
    assert abs(plain.fitness - r.fitness) <= 1e-6
    # at the hurdle, the partial equals a 2-epoch training
    two = train(task, tf.nn.relu, seed=0, data=resident, epochs=2)
    assert abs(two.val_accuracy - r.partials[0].val_accuracy) <= 1e-6


def test_rungs_read_at_each_and_stop_at_the_first_failed(task, resident) -> None:
    r = train(task, tf.nn.relu, seed=0, data=resident, epochs=6, rungs=((1, -np.inf), (3, 1.01), (5, -np.inf)))
    assert r.status == "stopped" and (r.epochs, r.steps) == (3, 96)
    assert [p.epochs for p in r.partials] == [1, 3]
    passed = train(task, tf.nn.relu, seed=0, data=resident, epochs=6, rungs=((1, -np.inf), (3, 0.0)))
    plain = train(task, tf.nn.relu, seed=0, data=resident, epochs=6)
    assert passed.status == "ok" and [p.epochs for p in passed.partials] == [1, 3]
    assert abs(plain.fitness - passed.fitness) <= 1e-6  # three segments train as one


def test_train_seeds(task, resident) -> None:
    mean, std, results = train_seeds(task, tf.nn.relu, [0, 1], data=resident, epochs=2)
    assert len(results) == 2 and all(r.status == "ok" for r in results)
    assert mean == pytest.approx(np.mean([r.fitness for r in results]))
    assert std == pytest.approx(np.std([r.fitness for r in results]))  # population spread
    mean, std, results = train_seeds(task, lambda x: x * float("nan"), [0], data=resident, epochs=1)
    assert (mean, std) == (None, None) and results[0].status == "failed"


def test_keras_activation_name(task, resident) -> None:
    r = train(task, "relu", seed=0, data=resident, epochs=1)
    assert r.status == "ok", r.error


def test_other_optimizer_and_small_last_batch(task) -> None:
    small = dataclasses.replace(
        task, setup=dataclasses.replace(task.setup, batch_size=96, optimizer="sgd", learning_rate=0.05)
    )
    r = train(small, tf.nn.relu, seed=0, epochs=1)
    assert r.status == "ok", r.error
    assert r.steps == math.ceil(3200 / 96) == 34


# ------------------------------------------------------------ expression language


def test_expression_string(task, resident) -> None:
    r = train(task, "x * sigmoid(1.5*x)", seed=0, data=resident, epochs=2)
    assert r.status == "ok", r.error
    assert r.fitness > 0.2


def test_parametric_activation(task, resident) -> None:
    from actsearch.expr import Activation

    act = resolve_activation(Activation.parse("x * sigmoid(1.5*x)"), parametric=True)
    model = task.build_model(act)
    plain = task.build_model(tf.nn.relu)
    # every hidden layer has its own trainable constant(s)
    assert len(model.trainable_weights) >= len(plain.trainable_weights) + 2
    r = train(task, "x * sigmoid(1.5*x)", seed=0, data=resident, epochs=2, parametric=True)
    assert r.status == "ok", r.error
    assert r.fitness > 0.2


_GRAPH_COUNT_SCRIPT = r"""
import gc, json, sys
import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.framework import ops
from actsearch.tasks import get_task
from actsearch.train import prepare_data, train
EXPRS = ["x * sigmoid(1.5*x)", "x * tanh(x)", "max(x, 0.1*x)", "tanh(x) + 0.1*x",
         "x / (1 + abs(x))", "sin(x) + x", "x * exp(-x*x)", "log(1 + exp(x))"]
task = get_task("mnist1d-mlp")
rd = prepare_data(task.get_data())
counts = []
for i in range(int(sys.argv[1])):
    r = train(task, EXPRS[i % len(EXPRS)], seed=i, data=rd, epochs=1, fused=sys.argv[2] == "fused")
    assert r.status == "ok", r.error
    # no gc.collect(): a worker never runs a full collection itself
    graphs = sum(1 for o in gc.get_objects() if isinstance(o, tf.Graph))
    counts.append([graphs, len(context.context().list_function_names()),
                   len(ops._gradient_registry._registry)])
print(json.dumps(counts))
"""


@pytest.mark.parametrize("update_path", ["fused", "keras"])
def test_traced_graphs_do_not_accumulate_over_trainings(tmp_path, update_path) -> None:
    """A long-lived worker trains hundreds of candidates: the traced graphs of a
    training (and the functions they register in the eager context and TF's
    gradient registry) must be freed after it, not accumulate (they did, via
    the CustomGradient-<uid> gradients TF registers for Keras' optimizer
    all-reduce, ~4.6 MB per training). Both update paths: the fused Adam and
    Keras' own (every other optimizer)."""
    import json
    import os
    import subprocess
    import sys

    n = 12  # the leak grew every training: 8 trainings after the warm-up show it
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", _GRAPH_COUNT_SCRIPT, str(n), update_path],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(counts) == n
    graphs = [c[0] for c in counts]
    functions = [c[1] for c in counts]
    gradients = [c[2] for c in counts]
    # from the 5th training on nothing grows (before the fix: +8 graphs,
    # +1 registered gradient per training)
    assert max(graphs[4:]) <= graphs[4] <= 2, graphs
    assert max(functions[4:]) <= functions[4], functions
    assert max(gradients[4:]) == min(gradients), gradients


def test_memory_fix_still_reaches_tensorflows_gradient_registry(task, resident) -> None:
    """The trainer frees each training's graphs through TF's private
    ops._gradient_registry; if a TF upgrade moves it, this fails (the trainer
    itself only warns and trains on). Keras' own update registers them (the
    fused Adam does not; every other optimizer does)."""
    from actsearch.train import recipe, trainer

    registry = recipe.gradient_registry()
    assert registry is not None, "ops._gradient_registry moved: the trainer's memory fix is off"
    before = recipe.custom_gradient_names()
    r = trainer._train_impl(
        task, "relu", seed=0, data=resident, epochs=1, rungs=(), parametric=False, jit_compile=None, fused=False
    )  # a training without the clean-up
    assert r.status == "ok", r.error
    added = recipe.custom_gradient_names() - before
    assert added, "a training no longer registers CustomGradient entries: revisit the memory fix"
    recipe.forget_custom_gradients(before)
    assert recipe.custom_gradient_names() == before
