"""Frozen record types: the common language between layers.

Workers, the store and the search loop exchange these plain, picklable values;
ORM rows and TensorFlow objects never cross a layer boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Partial:
    """A metric reading part-way through a training (a multi-fidelity rung)."""

    epochs: int
    val_accuracy: float | None
    val_loss: float | None
    fitness: float | None = None  # the task's metric at this point, higher is better


@dataclass(frozen=True)
class EvalResult:
    """What one training of one activation on one task with one seed produced.

    `status` is "ok", "failed" (NaN loss, TensorFlow error, ...), "timeout" or
    "stopped" (a multi-fidelity hurdle ended it early; the metrics are those at
    the hurdle). `fitness` is the task's metric oriented so that higher is
    better (validation accuracy for classification tasks); None unless ok/stopped.
    """

    status: str
    fitness: float | None
    val_accuracy: float | None
    val_loss: float | None
    train_seconds: float
    epochs: int
    steps: int
    batch_size: int
    error: str | None = None
    worker: str | None = None
    partials: tuple[Partial, ...] = field(default_factory=tuple)
    #: wall time of the whole batch this training ran in (several members in
    #: one compiled program, see actsearch.train.batch); None if trained alone
    batch_seconds: float | None = None
