"""`teacher-mlp`: a known-answer task. Its targets come from a small teacher network whose
hidden activation we chose, so a search can be asked whether it recovers that shape.

A teacher task is defined by (teacher expression, teacher seed): the seed draws the
teacher's weights and (seed + 1) the inputs and noise. `teacher-mlp` is
(``TEACHER_EXPR``, ``TEACHER_SEED``); the family `teacher-01` .. in teachers.py uses the
same generator, model and setup with other pairs.

The teacher is a fixed 10-32-1 MLP with hidden activation ``TEACHER_EXPR``,
``tanh(x) * (x**2 - 1)`` (odd, dips below zero on (0, 1), grows like x**2):
not a baseline, built from primitives of the default space, and far from
every baseline in shape (`shape_similarity` with relu, swish, gelu and tanh
at most 0.61; with x**2, |x|, x and x*tanh(x) at most 0.68). Inputs are N(0, 1);
targets are the teacher's output plus 5% noise, standardised. Everything is
generated locally from a fixed seed. The student has the teacher's
architecture, so the teacher's activation can fit the data to the noise floor
while the baselines cannot. Fitness is minus the validation MSE.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .base import Task, TaskData, TrainingSetup, hidden_activation
from .builtin import read_only

TEACHER_EXPR = "tanh(x) * (x**2 - 1)"
INPUTS, HIDDEN = 10, 32
N_TRAIN, N_VAL, N_TEST = 2000, 500, 1000
NOISE = 0.05
TEACHER_SEED = 20240613
SETUP = TrainingSetup(epochs=40, batch_size=64, learning_rate=1e-2)


def teacher_outputs(x: np.ndarray, seed: int = TEACHER_SEED, expr: str = TEACHER_EXPR) -> np.ndarray:
    """The outputs on `x` (rows of INPUTS features), in float64, of the teacher network whose
    weights `seed` draws and whose hidden activation is `expr`."""
    from actsearch.expr import Activation

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0 / np.sqrt(INPUTS), size=(INPUTS, HIDDEN))
    b1 = rng.uniform(-0.5, 0.5, size=HIDDEN)
    w2 = rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), size=HIDDEN)
    hidden = Activation.parse(expr).numpy(x.astype(np.float64) @ w1 + b1)
    return hidden @ w2


@functools.cache
def teacher_data(expr: str = TEACHER_EXPR, seed: int = TEACHER_SEED) -> TaskData:
    """2,000 train / 500 validation / 1,000 test rows of the teacher (`expr`, `seed`); targets
    standardised to mean 0, std 1. Cached per (expr, seed): every task object shares them."""
    rng = np.random.default_rng(seed + 1)
    n = N_TRAIN + N_VAL + N_TEST
    x = rng.normal(size=(n, INPUTS))
    y = teacher_outputs(x, seed, expr)
    y = y + NOISE * y.std() * rng.normal(size=n)
    y = (y - y.mean()) / y.std()
    x, y = x.astype(np.float32), y.astype(np.float32)
    cut = (N_TRAIN, N_TRAIN + N_VAL)
    return read_only(
        TaskData(x[: cut[0]], y[: cut[0]], x[cut[0] : cut[1]], y[cut[0] : cut[1]], x[cut[1] :], y[cut[1] :])
    )


def load_teacher() -> TaskData:
    """`teacher-mlp`'s data: :func:`teacher_data` of (TEACHER_EXPR, TEACHER_SEED)."""
    return teacher_data(TEACHER_EXPR, TEACHER_SEED)


def teacher_model(activation: Any) -> Any:
    """The student: the teacher's architecture, MLP 10-32-1."""
    import keras

    inputs = keras.Input(shape=(INPUTS,))
    h = keras.layers.Dense(HIDDEN, activation=hidden_activation(activation))(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(h), name="teacher_mlp")


def make_teacher_task(
    expr: str = TEACHER_EXPR, seed: int = TEACHER_SEED, name: str = "teacher-mlp", description: str | None = None
) -> Task:
    """The known-answer task of the teacher (`expr`, `seed`): `teacher-mlp` by default."""
    return Task(
        name=name,
        load_data=functools.partial(teacher_data, expr, seed),
        build_model=teacher_model,
        setup=SETUP,
        loss="mse",
        metric="mse",
        higher_is_better=False,
        description=description or f"known answer: regression on a 10-32-1 teacher with activation {expr}",
    )


def shape_similarity(expr: str, reference: str = TEACHER_EXPR, low: float = -3.0, high: float = 3.0) -> float:
    """How well `expr` recovers `reference`'s shape on [low, high]: the absolute correlation of the
    two curves weighted by the N(0, 1) density (the inputs a hidden unit mostly sees), taking the
    better of g(x) and g(-x). Output scale, sign and shift, and the input's sign, are absorbed by
    the neighbouring layers, so they do not count; input scale does. A constant or non-finite
    curve scores 0."""
    from actsearch.expr import Activation

    grid = np.linspace(low, high, 601)
    weight = np.exp(-(grid**2) / 2)
    ref = Activation.parse(reference).numpy(grid)
    g = Activation.parse(expr)
    return max(_abs_corr(ref, g.numpy(grid), weight), _abs_corr(ref, g.numpy(-grid), weight))


def _abs_corr(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> float:
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    w = weight / weight.sum()
    da, db = a - w @ a, b - w @ b
    va, vb = w @ da**2, w @ db**2
    if va <= 1e-24 or vb <= 1e-24:
        return 0.0
    return float(min(1.0, abs(w @ (da * db)) / np.sqrt(va * vb)))
