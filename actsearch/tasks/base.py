"""Task contract: data + model builder + training setup.

This module must not import TensorFlow (``import actsearch.tasks`` stays
cheap for the CLI and the search driver); TensorFlow is imported lazily inside
:func:`check_task` and inside the model builders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actsearch.results import one_line

#: Loss names the trainer understands (a callable ``loss(y_true, y_pred)``
#: returning a scalar mean loss is accepted too). Cross-entropies are computed
#: from logits: models end with a linear layer.
LOSSES = ("sparse_categorical_crossentropy", "binary_crossentropy", "mse", "mae")
#: Metric names the trainer understands (a callable ``metric(y_true, y_pred)``
#: returning a scalar mean is accepted too). "accuracy" is argmax accuracy for
#: multi-class logits and ``logit > 0`` accuracy for a single output.
METRICS = ("accuracy", "loss", "mse", "mae")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


class TaskError(ValueError):
    """A task cannot be found, loaded or built. The message is one line."""


@dataclass(frozen=True)
class TrainingSetup:
    """How one evaluation trains: epochs, batch size, learning rate, optimizer.

    (Not a search's budget, which counts trainings: this is a task's recipe.)

    ``steps_per_epoch(n_train)`` is ``ceil(n_train / batch_size)``: the last,
    smaller batch is kept, exactly like ``model.fit``.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise TaskError(f"setup epochs must be an integer >= 1, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise TaskError(f"setup batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise TaskError(f"setup learning_rate must be > 0, got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise TaskError(f"setup optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")

    def steps_per_epoch(self, n_train: int) -> int:
        return max(1, math.ceil(n_train / self.batch_size))

    def total_steps(self, n_train: int, epochs: int | None = None) -> int:
        return self.steps_per_epoch(n_train) * (self.epochs if epochs is None else epochs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "optimizer": self.optimizer,
        }


@dataclass(frozen=True, eq=False)
class TaskData:
    """Fixed splits of a task. The test split is never used by the search;
    only the validation of finished candidates (after the search) reads it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                raise TaskError(f"task data x_{split}/y_{split} must be numpy arrays")
            if len(x) != len(y):
                raise TaskError(f"task data x_{split} has {len(x)} rows but y_{split} has {len(y)}")
            if split != "test" and len(x) == 0:
                raise TaskError(f"task data split {split!r} is empty")

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            name: tuple(getattr(self, name).shape)
            for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }


@dataclass(eq=False)
class Task:
    """What a candidate activation is trained on.

    ``build_model(activation)`` returns a fresh, uncompiled ``keras.Model``
    ending in a linear layer (logits). ``activation`` is a callable
    tensor -> tensor usable as ``activation=`` of Keras layers; for parametric
    activations it is a Keras ``Layer`` (still callable). Builders should use
    :func:`actsearch.tasks.hidden_activation` to get one fresh layer per hidden
    layer, so each layer gets its own trainable constants.

    Give the data either as ``load_data`` (called once, lazily, cached on the
    task) or directly as ``data``.

    Fitness is ``metric`` on the validation split if ``higher_is_better``, else
    ``-metric`` (so higher fitness is always better).
    """

    name: str
    build_model: Callable[[Any], Any]
    setup: TrainingSetup
    load_data: Callable[[], TaskData] | None = None
    data: TaskData | None = None
    loss: str | Callable[[Any, Any], Any] = "sparse_categorical_crossentropy"
    metric: str | Callable[[Any, Any], Any] = "accuracy"
    higher_is_better: bool = True
    description: str = ""
    #: the spec this task was resolved from by get_task (set automatically)
    spec: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TaskError("task name must be a non-empty string")
        if not callable(self.build_model):
            raise TaskError(f"task {self.name!r}: build_model must be callable")
        if not isinstance(self.setup, TrainingSetup):
            raise TaskError(f"task {self.name!r}: setup must be a TrainingSetup")
        if self.load_data is None and self.data is None:
            raise TaskError(f"task {self.name!r}: give load_data or data")
        if self.load_data is not None and not callable(self.load_data):
            raise TaskError(f"task {self.name!r}: load_data must be callable")
        if self.data is not None and not isinstance(self.data, TaskData):
            raise TaskError(f"task {self.name!r}: data must be a TaskData")
        if isinstance(self.loss, str) and self.loss not in LOSSES:
            raise TaskError(f"task {self.name!r}: unknown loss {self.loss!r} (known: {', '.join(LOSSES)})")
        if not isinstance(self.loss, str) and not callable(self.loss):
            raise TaskError(f"task {self.name!r}: loss must be a name or a callable")
        if isinstance(self.metric, str) and self.metric not in METRICS:
            raise TaskError(f"task {self.name!r}: unknown metric {self.metric!r} (known: {', '.join(METRICS)})")
        if not isinstance(self.metric, str) and not callable(self.metric):
            raise TaskError(f"task {self.name!r}: metric must be a name or a callable")

    def get_data(self) -> TaskData:
        """The task's data, loaded once and cached on the task."""
        if self.data is None:
            assert self.load_data is not None
            try:
                data = self.load_data()
            except TaskError:
                raise
            except Exception as exc:
                raise TaskError(f"task {self.name!r}: load_data failed: {one_line(exc)}") from exc
            if not isinstance(data, TaskData):
                raise TaskError(f"task {self.name!r}: load_data returned {type(data).__name__}, expected TaskData")
            self.data = data
        return self.data

    @property
    def metric_name(self) -> str:
        return self.metric if isinstance(self.metric, str) else getattr(self.metric, "__name__", "metric")


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices of ``y`` into len(fractions) disjoint parts, stratified by
    label, with a fixed seed. Fractions must sum to 1; the last part takes the
    remainder. Each part's indices are shuffled."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        idx = idx[rng.permutation(len(idx))]
        start = 0
        for i, frac in enumerate(fractions):
            stop = len(idx) if i == len(fractions) - 1 else start + int(round(frac * len(idx)))
            parts[i].append(idx[start:stop])
            start = stop
    out = []
    for chunks in parts:
        idx = np.concatenate(chunks)
        out.append(idx[rng.permutation(len(idx))])
    return out


def hidden_activation(activation: Any) -> Any:
    """The activation to put after one hidden layer.

    A Keras layer (parametric activation) is cloned so that every hidden layer
    gets its own trainable constants; a plain callable is returned as is.
    Use it as ``Dense(n, activation=hidden_activation(act))``.
    """
    get_config = getattr(activation, "get_config", None)
    from_config = getattr(type(activation), "from_config", None)
    if get_config is not None and from_config is not None and hasattr(activation, "trainable_weights"):
        config = dict(get_config())
        config.pop("name", None)
        try:
            return from_config(config)
        except Exception:
            return activation
    return activation
