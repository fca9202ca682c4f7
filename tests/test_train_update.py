"""The fused Adam update (actsearch/train/update.py) against Keras' own Adam."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

from actsearch.tasks import Task, get_task
from actsearch.train import prepare_data, train_with_diagnostics, update


def _run_updates(fused: bool, optimizer: keras.optimizers.Optimizer, steps: int = 6) -> tuple[list, list]:
    """Apply ``steps`` fixed gradients to two weights in a traced function; return
    the final weights and the optimizer's own variables."""
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in ((3, 4), (4,))]
    grads = [[tf.constant(rng.normal(size=w.shape).astype("float32")) for w in weights] for _ in range(steps)]
    optimizer.build(weights)

    @tf.function(autograph=False)
    def step(g: list) -> None:
        update.apply_gradients(optimizer, g, weights, fused)

    for g in grads:
        step(g)
    return [w.numpy() for w in weights], [v.numpy() for v in optimizer.variables]


def test_fused_where_one_thread_runs(monkeypatch) -> None:
    """By default the kernel is used where it was measured faster: one intra-op thread."""
    adam = keras.optimizers.Adam(0.01)
    adam.build([keras.Variable(np.zeros(3, "float32"))])
    for threads, fused in ((1, True), (0, False), (2, False)):
        monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda t=threads: t)
        assert update.fusable(adam) is fused
        assert update.fusable(adam, None) is fused
        # a call's own choice wins over the rule, whatever the threads
        assert update.fusable(adam, True) and not update.fusable(adam, False)


def test_fused_adam_gives_keras_adams_weights_and_state() -> None:
    """Same weights, moments and iteration count as Keras' update, to float rounding."""
    keras_weights, keras_state = _run_updates(False, keras.optimizers.Adam(0.01))
    fused_weights, fused_state = _run_updates(True, keras.optimizers.Adam(0.01))
    for a, b in zip(keras_weights + keras_state, fused_weights + fused_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(fused_state) == len(keras_state) and int(fused_state[0]) == 6  # iterations


@pytest.mark.parametrize(
    "optimizer",
    [
        keras.optimizers.AdamW(0.01),
        keras.optimizers.SGD(0.01),
        keras.optimizers.RMSprop(0.01),
        keras.optimizers.Adam(0.01, amsgrad=True),
        keras.optimizers.Adam(0.01, clipnorm=1.0),
        keras.optimizers.Adam(0.01, weight_decay=0.1),
    ],
    ids=["adamw", "sgd", "rmsprop", "amsgrad", "clipnorm", "weight-decay"],
)
def test_other_optimizers_keep_keras_update(optimizer) -> None:
    """Anything the fused kernel does not implement goes through Keras: same result
    whether fusion is on or off."""
    assert not update.fusable(optimizer) and not update.fusable(optimizer, True)
    config = optimizer.get_config()
    on, _ = _run_updates(True, type(optimizer).from_config(config))
    off, _ = _run_updates(False, type(optimizer).from_config(config))
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_training_with_fused_adam_follows_keras_adam() -> None:
    """A real training's first 40 losses agree with Keras' update to about 1e-6;
    each call runs the update it asks for, and its diagnostics say which."""
    task = get_task("mnist1d-mlp")
    data = prepare_data(task.get_data())
    losses, results = {}, {}
    for fused in (False, True):
        result, diagnostics = train_with_diagnostics(
            task, "x * sigmoid(x)", seed=3, data=data, epochs=1, record_steps=40, fused=fused
        )
        assert result.status == "ok", result.error
        assert diagnostics.fused_update is fused
        losses[fused], results[fused] = diagnostics.step_losses[:40], result
    assert np.all(np.isfinite(losses[True])) and np.all(np.isfinite(losses[False]))
    assert np.max(np.abs(losses[True] - losses[False])) < 1e-5
    assert results[True].val_loss == pytest.approx(results[False].val_loss, abs=1e-3)
    assert not np.array_equal(losses[True][0], losses[True][-1])  # it trained
    # another optimizer cannot be fused: the diagnostics say the call's wish was not met
    sgd = Task(name="sgd", build_model=task.build_model, setup=replace(task.setup, optimizer="sgd"), data=task.data)
    result, diagnostics = train_with_diagnostics(sgd, "tanh(x)", seed=0, data=data, epochs=1, fused=True)
    assert result.status == "ok" and diagnostics.fused_update is False


@pytest.mark.slow
def test_batched_training_with_fused_adam_follows_keras_adam() -> None:
    """The batched program's flat weights: the same, member by member, with
    the update each call asks for."""
    from actsearch.train.batch import BatchMember, train_batch_with_diagnostics

    task = get_task("mnist1d-mlp")
    data = prepare_data(task.get_data())
    members = [BatchMember("x * sigmoid(x)", 0), BatchMember("tanh(x)", 1)]
    losses = {}
    for fused in (False, True):
        results, diagnostics = train_batch_with_diagnostics(
            task, members, data=data, epochs=1, record_steps=20, fused=fused
        )
        assert diagnostics.batched and all(r.status == "ok" for r in results)
        assert diagnostics.fused_update is fused
        losses[fused] = diagnostics.step_losses[:20]
    assert np.all(np.isfinite(losses[True])) and losses[True].shape == (20, 2)
    assert np.max(np.abs(losses[True] - losses[False])) < 1e-5
