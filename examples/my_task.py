"""A user task for actsearch: your data, your model, your training setup.

Use it with ``actsearch search --task examples/my_task.py:make_task`` (or
``package.module:make_task`` for an installed module). Check it before a
long search with::

    python -c "from actsearch.tasks import get_task, check_task; \
check_task(get_task('examples/my_task.py:make_task'))"

The contract:

* ``make_task()`` takes no arguments and returns an ``actsearch.tasks.Task``.
* ``load_data()`` returns a ``TaskData`` with FIXED train/validation/test
  splits (use a fixed split seed, never the search seed). The search trains on
  train and ranks on validation; only the final validation reads test.
* ``build_model(activation)`` returns a fresh, uncompiled ``keras.Model``
  whose last layer is linear (logits / raw predictions). Use the activation
  after every hidden layer through ``hidden_activation(activation)``, which
  gives each layer its own trainable constants for parametric activations.
* Import TensorFlow/Keras inside ``build_model``: the search driver loads
  this file too and does not need TensorFlow.
* Workers receive the spec string and call ``make_task()`` themselves, so keep
  the file importable from the directory the search is started in.
"""

from __future__ import annotations

import numpy as np

from actsearch.tasks import Task, TaskData, TrainingSetup, hidden_activation, stratified_split

SPLIT_SEED = 7  # fixed: the same split for every search


def load_moons() -> TaskData:
    """Two interleaving half-moons with noise: 2,000 points, 60/20/20 split."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=2000, noise=0.3, random_state=SPLIT_SEED)
    x = x.astype(np.float32)
    y = y.astype(np.int32)
    train, val, test = stratified_split(y, (0.6, 0.2, 0.2), SPLIT_SEED)
    return TaskData(x[train], y[train], x[val], y[val], x[test], y[test])


def build_moons_model(activation):
    """A small MLP 2 -> 32 -> 32 -> 1 logit."""
    import keras

    inputs = keras.Input(shape=(2,))
    h = keras.layers.Dense(32, activation=hidden_activation(activation))(inputs)
    h = keras.layers.Dense(32, activation=hidden_activation(activation))(h)
    outputs = keras.layers.Dense(1)(h)  # one logit
    return keras.Model(inputs, outputs)


def make_task() -> Task:
    """Binary classification of noisy moons; fitness = validation accuracy."""
    return Task(
        name="moons-mlp",
        load_data=load_moons,
        build_model=build_moons_model,
        loss="binary_crossentropy",  # from logits
        metric="accuracy",  # logit > 0
        higher_is_better=True,
        setup=TrainingSetup(epochs=20, batch_size=64, learning_rate=1e-2),
        description="sklearn make_moons (noise 0.3), MLP 2-32-32-1",
    )


# ------------------------------------------------------------ a regression


def load_wave() -> TaskData:
    """y = sin(3x) * x + noise on [-2, 2]: 1,500 points, 60/20/20 split."""
    rng = np.random.default_rng(SPLIT_SEED)
    x = rng.uniform(-2, 2, size=(1500, 1)).astype(np.float32)
    y = (np.sin(3 * x[:, 0]) * x[:, 0] + 0.05 * rng.normal(size=1500)).astype(np.float32)
    idx = rng.permutation(1500)
    train, val, test = idx[:900], idx[900:1200], idx[1200:]
    return TaskData(x[train], y[train], x[val], y[val], x[test], y[test])


def build_wave_model(activation):
    import keras

    inputs = keras.Input(shape=(1,))
    h = keras.layers.Dense(32, activation=hidden_activation(activation))(inputs)
    h = keras.layers.Dense(32, activation=hidden_activation(activation))(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def make_regression_task() -> Task:
    """Regression; fitness = -validation MSE (higher is better)."""
    return Task(
        name="wave-regression",
        load_data=load_wave,
        build_model=build_wave_model,
        loss="mse",
        metric="mse",
        higher_is_better=False,
        setup=TrainingSetup(epochs=30, batch_size=32, learning_rate=1e-2),
        description="1-D regression y = x sin(3x), MLP 1-32-32-1",
    )
