"""The task panel: four built-in tasks across architectures, beyond the small MLPs and CNNs.

An activation that wins on a two-layer MLP may lose elsewhere; each task here asks one
question that the first built-ins cannot (docs/panel.md has the measured baselines):

``deep-mlp``
    Does the activation keep gradients alive through depth? A PLAIN MLP of ten hidden
    layers (no normalisation, no residuals, Keras' default Glorot-uniform init) on
    MNIST-1D. This is the seed article's original concern: with vanishing or exploding
    gradients the activation alone decides whether a deep network trains. Sigmoid stays
    at chance and tanh falls well behind the relu-like activations.
``residual-mlp``
    Does it still matter once the architecture fixes the gradient flow? Pre-norm
    residual blocks ``x + Dense(act(Dense(LayerNorm(x))))`` on MNIST-1D, as in modern
    networks: the activation shapes a block's function, not the signal's survival.
``transformer``
    Does it work in the MLP sublayer of an attention model? One pre-norm transformer
    block (multi-head self-attention, then an MLP whose hidden layer uses the candidate)
    on a synthetic sequence task generated locally: count how often the last token
    occurs before it. The label needs content-based interaction between positions
    (the last position must find its equals), then a non-linear read-out of the count.
``ood-regression``
    Does it extrapolate? Regression of a fixed smooth function of three inputs (a sum of
    sinusoids plus a quadratic form), trained inside the unit ball and scored on the
    shell ``1 < |x| <= 1.5`` outside it, in the style of DeepMind's "Mining
    generalizable activation functions" (2026). Relu extrapolates linearly, tanh
    saturates to a constant: the activation's shape away from the data decides.

Every split is fixed: generated data come from fixed seeds independent of any search
seed (the same bytes in every process); arrays are read-only and loaders cached, as for
the other built-ins. TensorFlow/Keras are imported only inside the model builders.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Task, TaskData, TrainingSetup, hidden_activation
from .builtin import load_mnist1d, read_only

# ---------------------------------------------------------------- deep-mlp

#: Hidden layers and their width of the deep plain MLP.
DEEP_LAYERS, DEEP_WIDTH = 10, 64


def deep_mlp_model(activation: Any) -> Any:
    """Plain MLP 40 -> 10 x 64 -> 10: no normalisation, no residuals, default init."""
    import keras

    inputs = keras.Input(shape=(40,))
    h = inputs
    for _ in range(DEEP_LAYERS):
        h = keras.layers.Dense(DEEP_WIDTH, activation=hidden_activation(activation))(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="deep_mlp")


# ---------------------------------------------------------------- residual-mlp

#: Residual blocks, the residual stream's width and a block's hidden width.
RESIDUAL_BLOCKS, RESIDUAL_WIDTH, RESIDUAL_HIDDEN = 3, 64, 128


def residual_mlp_model(activation: Any) -> Any:
    """Linear stem 40 -> 64, three pre-norm blocks x + Dense(64)(act(Dense(128)(LayerNorm(x)))),
    final LayerNorm, linear head."""
    import keras

    inputs = keras.Input(shape=(40,))
    h = keras.layers.Dense(RESIDUAL_WIDTH)(inputs)
    for _ in range(RESIDUAL_BLOCKS):
        z = keras.layers.LayerNormalization()(h)
        z = keras.layers.Dense(RESIDUAL_HIDDEN, activation=hidden_activation(activation))(z)
        z = keras.layers.Dense(RESIDUAL_WIDTH)(z)
        h = keras.layers.Add()([h, z])
    h = keras.layers.LayerNormalization()(h)
    outputs = keras.layers.Dense(10)(h)
    return keras.Model(inputs, outputs, name="residual_mlp")


# ---------------------------------------------------------------- transformer

#: Sequence length, vocabulary and the largest count class ("3 or more").
SEQ_LEN, VOCAB, MAX_COUNT = 12, 6, 3
#: Model width, attention heads and the MLP sublayer's hidden width.
MODEL_DIM, HEADS, MLP_HIDDEN = 32, 4, 64
SEQ_TRAIN, SEQ_VAL, SEQ_TEST = 3000, 1000, 1000
SEQ_SEED = 20261203


def query_counts(tokens: np.ndarray) -> np.ndarray:
    """The label of each row of token ids: how often its last token occurs in the positions
    before it, capped at MAX_COUNT."""
    query = tokens[:, -1:]
    return np.minimum((tokens[:, :-1] == query).sum(axis=1), MAX_COUNT).astype(np.int32)


@functools.cache
def load_sequences() -> TaskData:
    """3,000 train / 1,000 validation / 1,000 test sequences of SEQ_LEN tokens drawn uniformly
    from VOCAB (seed SEQ_SEED), one-hot encoded, float32 of shape (n, 12, 6); no sequence is
    in two splits. Labels: :func:`query_counts` (classes 0, 1, 2, 3+, each 13-32% of a
    split; the most frequent class has 31.7% of the validation split)."""
    rng = np.random.default_rng(SEQ_SEED)
    n = SEQ_TRAIN + SEQ_VAL + SEQ_TEST
    tokens = rng.integers(0, VOCAB, size=(n + n // 10, SEQ_LEN))
    _, first = np.unique(tokens, axis=0, return_index=True)  # distinct sequences, in drawn order
    tokens = tokens[np.sort(first)[:n]]
    x = np.eye(VOCAB, dtype=np.float32)[tokens]
    y = query_counts(tokens)
    a, b = SEQ_TRAIN, SEQ_TRAIN + SEQ_VAL
    return read_only(TaskData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:]))


def transformer_model(activation: Any) -> Any:
    """Token embedding (linear 6 -> 32, no positions: the task is order-free apart from the
    query at the end), one pre-norm block: x + MultiHeadAttention(4 heads of 8)(LayerNorm(x)),
    then x + Dense(32)(act(Dense(64)(LayerNorm(x)))); the last position's vector -> linear
    head of MAX_COUNT + 1 logits. (No final LayerNorm: it cost a tenth of the training time
    for no accuracy.)"""
    import keras

    inputs = keras.Input(shape=(SEQ_LEN, VOCAB))
    h = keras.layers.Dense(MODEL_DIM)(inputs)
    z = keras.layers.LayerNormalization()(h)
    z = keras.layers.MultiHeadAttention(HEADS, MODEL_DIM // HEADS)(z, z)
    h = keras.layers.Add()([h, z])
    z = keras.layers.LayerNormalization()(h)
    z = keras.layers.Dense(MLP_HIDDEN, activation=hidden_activation(activation))(z)
    z = keras.layers.Dense(MODEL_DIM)(z)
    h = keras.layers.Add()([h, z])
    outputs = keras.layers.Dense(MAX_COUNT + 1)(h[:, -1, :])
    return keras.Model(inputs, outputs, name="transformer")


# ---------------------------------------------------------------- ood-regression

#: Inputs, sinusoid terms, the training ball's radius and the outer radius of the scored shell.
OOD_DIM, OOD_TERMS = 3, 4
TRAIN_RADIUS, OOD_RADIUS = 1.0, 1.5
OOD_TRAIN, OOD_VAL, OOD_TEST = 2000, 500, 1000
#: Seed of the target function; the inputs are drawn with OOD_SEED + 1.
OOD_SEED = 20261204
OOD_WIDTH = 64


def ood_target(x: np.ndarray, seed: int = OOD_SEED) -> np.ndarray:
    """The fixed target function, in float64: sum_k a_k sin(w_k . x + p_k) + x'Ax / 2 + b.x with
    w_k ~ N(0, I), p_k ~ U(0, 2 pi), a_k ~ N(0, 1), A the symmetric part of a N(0, 1) matrix
    and b ~ N(0, 1/4), all drawn from `seed`. Smooth, and no network's activation."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(OOD_TERMS, OOD_DIM))
    phase = rng.uniform(0.0, 2 * np.pi, size=OOD_TERMS)
    amp = rng.normal(size=OOD_TERMS)
    m = rng.normal(size=(OOD_DIM, OOD_DIM))
    quad = (m + m.T) / 2
    lin = rng.normal(0.0, 0.5, size=OOD_DIM)
    x = np.asarray(x, dtype=np.float64)
    return np.sin(x @ w.T + phase) @ amp + 0.5 * np.einsum("ni,ij,nj->n", x, quad, x) + x @ lin


def _shell(rng: np.random.Generator, n: int, inner: float, outer: float) -> np.ndarray:
    """`n` points uniform in volume in {inner <= |x| <= outer} (a ball if inner is 0)."""
    direction = rng.normal(size=(n, OOD_DIM))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = rng.uniform(inner**OOD_DIM, outer**OOD_DIM, size=n) ** (1.0 / OOD_DIM)
    return direction * radius[:, None]


@functools.cache
def load_ood() -> TaskData:
    """2,000 train inputs uniform in the ball |x| <= 1; 500 validation and 1,000 test inputs
    uniform in the shell 1 < |x| <= 1.5 (disjoint draws). Targets standardised with the TRAIN
    mean and std only, so the out-of-distribution targets keep their own offset and spread
    (validation: mean 0.51, variance 1.14 in train units): predicting the train mean scores
    an MSE of 1.40 on the validation split, 1.49 on the test split."""
    rng = np.random.default_rng(OOD_SEED + 1)
    x_train = _shell(rng, OOD_TRAIN, 0.0, TRAIN_RADIUS)
    x_out = _shell(rng, OOD_VAL + OOD_TEST + 100, TRAIN_RADIUS, OOD_RADIUS)
    # the shell's inner edge is open, in float32 too: drop the (rare) draws that round onto it
    outside = np.linalg.norm(x_out.astype(np.float32), axis=1) > TRAIN_RADIUS
    x_out = x_out[outside][: OOD_VAL + OOD_TEST]
    y_train, y_out = ood_target(x_train), ood_target(x_out)
    mean, std = y_train.mean(), y_train.std()

    def f32(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float32)

    y_train, y_out = (y_train - mean) / std, (y_out - mean) / std
    v = OOD_VAL
    return read_only(
        TaskData(f32(x_train), f32(y_train), f32(x_out[:v]), f32(y_out[:v]), f32(x_out[v:]), f32(y_out[v:]))
    )


def ood_mlp_model(activation: Any) -> Any:
    """MLP 3 -> 64 -> 64 -> 1."""
    import keras

    inputs = keras.Input(shape=(OOD_DIM,))
    h = keras.layers.Dense(OOD_WIDTH, activation=hidden_activation(activation))(inputs)
    h = keras.layers.Dense(OOD_WIDTH, activation=hidden_activation(activation))(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h), name="ood_mlp")


# ---------------------------------------------------------------- registry

#: Default training setups (benchmarks/train.py --part panel measures each one's seconds
#: per training on one TensorFlow thread and the baselines' validation scores).
SETUPS: dict[str, TrainingSetup] = {
    "deep-mlp": TrainingSetup(epochs=25, batch_size=128, learning_rate=1e-2),
    "residual-mlp": TrainingSetup(epochs=15, batch_size=128, learning_rate=3e-3),
    "transformer": TrainingSetup(epochs=5, batch_size=64, learning_rate=5e-3),
    "ood-regression": TrainingSetup(epochs=40, batch_size=64, learning_rate=1e-2),
}

#: name -> (data loader, model builder, description, regression?)
PANEL: dict[str, tuple[Callable[[], TaskData], Callable[[Any], Any], str, bool]] = {
    "deep-mlp": (
        load_mnist1d,
        deep_mlp_model,
        "MNIST-1D (generated locally), plain MLP 40-(64x10)-10, no norm or residuals",
        False,
    ),
    "residual-mlp": (
        load_mnist1d,
        residual_mlp_model,
        "MNIST-1D (generated locally), residual MLP: 3 pre-LayerNorm blocks 64-128-64",
        False,
    ),
    "transformer": (
        load_sequences,
        transformer_model,
        "synthetic sequences (12 tokens of 6, count the last one's copies), 1-block transformer",
        False,
    ),
    "ood-regression": (
        load_ood,
        ood_mlp_model,
        "smooth 3-input function, trained on |x|<=1, scored on 1<|x|<=1.5, MLP 3-64-64-1",
        True,
    ),
}


def make_panel_task(name: str) -> Task:
    load, build, description, regression = PANEL[name]
    if regression:
        return Task(
            name=name,
            load_data=load,
            build_model=build,
            setup=SETUPS[name],
            loss="mse",
            metric="mse",
            higher_is_better=False,
            description=description,
        )
    return Task(name=name, load_data=load, build_model=build, setup=SETUPS[name], description=description)
