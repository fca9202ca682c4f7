"""The set-up both trainers share, so a member of a batch trains exactly as it
would alone: resident data, seeding and model building, the optimizer, the
loss and metrics, the rungs' segments and the clean-up that keeps a
long-lived worker's memory flat.

:mod:`.trainer` (one training) and :mod:`.batch` (many in one program) both
use these public functions; neither reaches into the other's private names.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from actsearch.tasks.base import Task, TaskData, TrainingSetup
from actsearch.tasks.losses import CLASSIFICATION_LOSSES, resolve_loss, resolve_metric

from .resolve import resolve_activation

log = logging.getLogger(__name__)

#: Validation is computed in chunks of this many examples.
EVAL_CHUNK = 4096


# ------------------------------------------------------------------ data


class ResidentData:
    """A task's train and validation splits as TensorFlow constants.

    Build it once per data object (a long-lived worker keeps it) and pass it
    as ``train(..., data=resident)``. The test split is not converted; use
    ``ResidentData(data, splits=("train", "val", "test"))`` only for
    validation after a search."""

    x_train: tf.Tensor
    y_train: tf.Tensor
    x_val: tf.Tensor
    y_val: tf.Tensor

    def __init__(self, data: TaskData, splits: Sequence[str] = ("train", "val")):
        self.source = data
        self.splits = tuple(splits)
        for split in ("train", "val", "test"):
            if split in self.splits:
                setattr(self, f"x_{split}", _as_tensor(getattr(data, f"x_{split}")))
                setattr(self, f"y_{split}", _as_tensor(getattr(data, f"y_{split}")))
        self.n_train = int(data.y_train.shape[0])
        self.n_val = int(data.y_val.shape[0])


def _as_tensor(a: np.ndarray) -> tf.Tensor:
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32:
        a = a.astype(np.float32)
    elif a.dtype == np.int64:
        a = a.astype(np.int32)
    return tf.constant(a)


_RESIDENT_CACHE: list[tuple[TaskData, ResidentData]] = []


def prepare_data(data: TaskData | ResidentData) -> ResidentData:
    """Convert once and remember the last few conversions (by identity)."""
    if isinstance(data, ResidentData):
        return data
    for src, resident in _RESIDENT_CACHE:
        if src is data:
            return resident
    resident = ResidentData(data)
    _RESIDENT_CACHE.append((data, resident))
    del _RESIDENT_CACHE[:-4]
    return resident


def task_data(task: Task, data: TaskData | ResidentData | None) -> ResidentData:
    """The data a training reads: the given data, else the task's (converted and cached)."""
    return prepare_data(data if data is not None else task.get_data())


# ------------------------------------------------------------------ model, optimizer, objective


def start_session(seed: int) -> None:
    """Reset Keras' global state and seed it: the same seed then gives the same
    initial weights and dropout in either trainer. No full ``gc.collect()``
    (0.2 s): :class:`GraphRelease` frees the previous training's graphs."""
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)


def build_model(task: Task, activation: Any, *, seed: int, parametric: bool = False) -> Any:
    """``task``'s model with ``activation`` (anything :func:`resolve_activation`
    takes), built in a fresh session seeded with ``seed``."""
    start_session(seed)
    return task.build_model(resolve_activation(activation, parametric=parametric))


def make_optimizer(setup: TrainingSetup) -> Any:
    """The Keras optimizer a task's training setup names."""
    name, learning_rate = setup.optimizer, setup.learning_rate
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass(frozen=True)
class Objective:
    """How a task scores a model: its loss, its metric and whether accuracy is reported."""

    loss: Callable[[Any, Any], Any]
    metric: Callable[[Any, Any], Any]
    with_accuracy: bool
    higher_is_better: bool

    def fitness(self, metric_value: float) -> float:
        """Higher is better, whatever the metric."""
        return metric_value if self.higher_is_better else -metric_value


def objective(task: Task) -> Objective:
    loss = resolve_loss(task.loss)
    return Objective(
        loss=loss,
        metric=resolve_metric(task.metric, loss),
        with_accuracy=task.metric == "accuracy" or task.loss in CLASSIFICATION_LOSSES,
        higher_is_better=task.higher_is_better,
    )


def epoch_segments(n_epochs: int, rung_epochs: Sequence[int] = ()) -> list[tuple[int, int]]:
    """The compiled calls' epoch ranges: all epochs, cut at every rung (a rung past the
    last epoch is read at the last)."""
    if any(e < 1 for e in rung_epochs):
        raise ValueError(f"rung epochs must be >= 1, got {sorted(rung_epochs)}")
    cuts = sorted({min(int(e), n_epochs) for e in rung_epochs} | {n_epochs})
    return list(zip([0, *cuts[:-1]], cuts))


def rung_thresholds(rungs: Sequence[tuple[int, float]], n_epochs: int) -> dict[int, float]:
    """Epoch -> threshold of the multi-fidelity rungs (a rung past the last epoch is read
    there); a training whose fitness at a rung is below its threshold stops there."""
    if any(int(e) < 1 for e, _ in rungs):
        raise ValueError(f"rung epochs must be >= 1, got {sorted(e for e, _ in rungs)}")
    return {min(int(e), n_epochs): float(t) for e, t in sorted(rungs)}


# ------------------------------------------------------------------ clean-up


class GraphRelease:
    """Around one training (or batch): keeps a long-lived worker's memory flat.

    (1) The gradient functions TensorFlow registers globally while tracing are
    unregistered afterwards (they referenced every training's traced graphs,
    see :func:`forget_custom_gradients`), and (2) the training's traced
    graphs, model and optimizer, which are reference cycles, are freed right
    after it: the cyclic gc is paused during the training so that all the
    objects it creates stay in the youngest generation, and one collection of
    that generation (milliseconds, unlike a full ``gc.collect()`` over the
    ~400k objects of TensorFlow/Keras: 0.2 s) frees them. When they are freed,
    TensorFlow removes their functions from the eager context.

    Set ``full_collection = False`` when the training ended normally: a trace
    interrupted by an exception leaves graphs referenced from older
    generations, which only a full collection frees."""

    def __init__(self) -> None:
        self.full_collection = True
        self._gc_was_enabled = False
        self._before: set[str] = set()

    def __enter__(self) -> GraphRelease:
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self._before = custom_gradient_names()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        forget_custom_gradients(self._before)
        if self._gc_was_enabled:
            gc.enable()
            gc.collect(2 if self.full_collection or kind is not None else 0)


def gradient_registry() -> dict | None:
    """TensorFlow's process-global gradient registry (name -> entry), or None
    (with a warning, once) if this TensorFlow version does not have it where
    we expect it: trainings then work, but a long-lived worker's memory grows.
    tests/test_train.py fails when that happens, so an upgrade cannot lose
    the fix silently."""
    try:
        from tensorflow.python.framework import ops as tf_ops

        registry = tf_ops._gradient_registry._registry
    except (ImportError, AttributeError):
        registry = None
    if not isinstance(registry, dict):
        _warn_once("TensorFlow's ops._gradient_registry moved: traced graphs are not freed after each training")
        return None
    return registry


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def custom_gradient_names() -> set[str]:
    """The ``CustomGradient-<uid>`` entries registered so far."""
    registry = gradient_registry()
    if registry is None:
        return set()
    return {name for name in list(registry) if str(name).startswith("CustomGradient-")}


def forget_custom_gradients(before: set[str]) -> None:
    """Unregister the ``CustomGradient-<uid>`` gradient functions registered
    since ``before``; they are what kept every training's traced graphs alive.

    Each traced optimizer step goes through Keras' ``_all_reduce_sum_gradients``
    -> ``ReplicaContext.all_reduce``, a ``@tf.custom_gradient`` function. In
    graph mode TensorFlow registers its gradient as ``CustomGradient-<uid>`` in
    the global ``ops._gradient_registry`` and never unregisters it; the entry's
    closure references the step's symbolic gradient tensors, hence the
    while-loop body graph, its captures, the outer while graphs and the traced
    ``run`` FuncGraph (with the model, optimizer and the activation): about
    4.5 MB per training in a long-lived worker. The gradient of those ops is
    never needed once the training is traced (nothing differentiates through
    the optimizer update), so dropping the entries afterwards is safe. (A
    worker trains one candidate at a time; a custom gradient registered by
    another thread during the training would be dropped as well.)"""
    registry = gradient_registry()
    if registry is None:
        return
    for name in list(registry):
        if str(name).startswith("CustomGradient-") and name not in before:
            registry.pop(name, None)
