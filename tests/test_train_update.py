"""The fused Adam update (actsearch/train/update.py) against Keras' own Adam."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from actsearch.tasks import get_task
from actsearch.train import prepare_data, train, trainer, update


def _run_updates(fused: bool, optimizer: keras.optimizers.Optimizer, steps: int = 6) -> tuple[list, list]:
    """Apply ``steps`` fixed gradients to two weights in a traced function; return
    the final weights and the optimizer's own variables."""
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in ((3, 4), (4,))]
    grads = [[tf.constant(rng.normal(size=w.shape).astype("float32")) for w in weights] for _ in range(steps)]
    optimizer.build(weights)

    @tf.function(autograph=False)
    def step(g: list) -> None:
        update.apply_gradients(optimizer, g, weights)

    previous, update.FUSED = update.FUSED, fused
    try:
        for g in grads:
            step(g)
    finally:
        update.FUSED = previous
    return [w.numpy() for w in weights], [v.numpy() for v in optimizer.variables]


def test_fused_where_one_thread_runs(monkeypatch) -> None:
    """By default the kernel is used where it was measured faster: one intra-op thread."""
    adam = keras.optimizers.Adam(0.01)
    adam.build([keras.Variable(np.zeros(3, "float32"))])
    monkeypatch.setattr(update, "FUSED", None)
    for threads, fused in ((1, True), (0, False), (2, False)):
        monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda t=threads: t)
        assert update.fusable(adam) is fused
    monkeypatch.setattr(update, "FUSED", True)
    assert update.fusable(adam)


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
    assert not update.fusable(optimizer)
    config = optimizer.get_config()
    on, _ = _run_updates(True, type(optimizer).from_config(config))
    off, _ = _run_updates(False, type(optimizer).from_config(config))
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_training_with_fused_adam_follows_keras_adam(monkeypatch) -> None:
    """A real training's first 40 losses agree with Keras' update to about 1e-6."""
    task = get_task("mnist1d-mlp")
    data = prepare_data(task.get_data())
    losses = {}
    for fused in (False, True):
        monkeypatch.setattr(update, "FUSED", fused)
        result = train(task, "x * sigmoid(x)", seed=3, data=data, epochs=1, record_steps=40)
        assert result.status == "ok", result.error
        losses[fused] = trainer.last_timings["step_losses"].numpy()[:40]
    assert np.max(np.abs(losses[True] - losses[False])) < 1e-5
    assert not np.array_equal(losses[True][0], losses[True][-1])  # it trained


@pytest.mark.slow
def test_batched_training_with_fused_adam_follows_keras_adam(monkeypatch) -> None:
    """The batched program's flat weights: the same, member by member."""
    from actsearch.train import batch

    task = get_task("mnist1d-mlp")
    data = prepare_data(task.get_data())
    members = [batch.Member("x * sigmoid(x)", 0), batch.Member("tanh(x)", 1)]
    losses = {}
    for fused in (False, True):
        monkeypatch.setattr(update, "FUSED", fused)
        results = batch.train_batch(task, members, data=data, epochs=1, record_steps=20)
        assert batch.last_timings["batched"] and all(r.status == "ok" for r in results)
        losses[fused] = batch.last_timings["step_losses"].numpy()[:20]
    assert np.max(np.abs(losses[True] - losses[False])) < 1e-5
