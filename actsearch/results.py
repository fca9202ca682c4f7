"""What a training produced, as frozen values: the common language between layers.

Workers, the store and the search loop exchange these plain, picklable values;
ORM rows and TensorFlow objects never cross a layer boundary. The fitness of a
candidate over several seeds is computed here, once, for the search, the
trainer and validation alike.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Statuses of one training that carry a fitness.
SCORED = ("ok", "stopped")


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
    "stopped" (a multi-fidelity rung ended it early; the metrics are those at
    the rung). `fitness` is the task's metric oriented so that higher is
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
    #: the activation the worker trained, as its canonical text (the search sends the
    #: light form and stores this one); None when not reported
    expr: str | None = None
    #: a parametric training's learned constants, in the order of the trained expression's
    #: parameters (each one's mean over the hidden layers, which train their own); else None
    learned: tuple[float, ...] | None = None

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        status: str = "failed",
        train_seconds: float = 0.0,
        epochs: int = 0,
        steps: int = 0,
        batch_size: int = 0,
        partials: tuple[Partial, ...] = (),
    ) -> EvalResult:
        """A training that produced no fitness (status "failed" or "timeout")."""
        return cls(
            status=status,
            fitness=None,
            val_accuracy=None,
            val_loss=None,
            train_seconds=train_seconds,
            epochs=epochs,
            steps=steps,
            batch_size=batch_size,
            error=error,
            partials=partials,
        )

    @property
    def scored(self) -> float | None:
        """The fitness if this training counts (ok or stopped at a rung), else None."""
        return self.fitness if self.status in SCORED else None


def aggregate_fitness(fitnesses: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean fitness over seeds and its (population) spread.

    One seed without a fitness (failed, timed out, NaN) makes the whole
    candidate failed: (None, None). The spread needs two seeds.
    """
    values = list(fitnesses)
    if not values or any(v is None or math.isnan(v) for v in values):
        return None, None
    scored = [v for v in values if v is not None]
    spread = statistics.pstdev(scored) if len(scored) > 1 else None
    return statistics.fmean(scored), spread


def relative_to_reference(
    fitnesses: Mapping[str, Sequence[float | None]],
    reference: Mapping[str, float],
    scale: Mapping[str, float] | None = None,
    across: str = "mean",
) -> tuple[float | None, float | None]:
    """Fitness across tasks: seed by seed, the `across` ("mean" or "median") over tasks of
    (fitness - reference[task]) / scale[task]; then the mean over seeds and its spread, as
    `aggregate_fitness`.

    `fitnesses[task][i]` is the fitness with the i-th seed (the same seeds on every task);
    `reference[task]` is the best baseline's fitness there, so 0 means "as good as the best
    baseline, on average over the tasks"; `scale[task]` (default 1) is that task's unit, the
    baselines' seed spread for `fitness.units: seed_spread`. One training without a finite
    fitness (failed, timed out, NaN, Inf) on any task makes the whole candidate failed:
    (None, None).
    """
    columns = [fitnesses[task] for task in reference]
    if not columns or any(len(c) != len(columns[0]) for c in columns):
        raise ValueError("relative_to_reference needs the same seeds on every task")
    combine: Callable[[list[float]], float] = statistics.median if across == "median" else statistics.fmean
    unit = scale or {}
    per_seed = []
    for values in zip(*columns):
        if any(v is None or not math.isfinite(v) for v in values):
            return None, None
        per_seed.append(
            combine([(v - reference[t]) / unit.get(t, 1.0) for v, t in zip(values, reference) if v is not None])
        )
    return aggregate_fitness(per_seed)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_WRAPPER = "Exception encountered when calling"


def one_line(exc: BaseException, *, with_type: bool = True) -> str:
    """``"ExcType: first meaningful line"`` of an exception (the line at most 300 characters).

    A database driver's error is read from its ``orig``; Keras' "Exception
    encountered when calling X" wrapper is replaced by the wrapped message.
    """
    exc = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if first.startswith(_KERAS_WRAPPER) and len(lines) > 1:
        where = first[len(_KERAS_WRAPPER) :].strip().rstrip(".")
        first = f"{lines[1]} (in {where})"
    if len(first) > 300:
        first = first[:297] + "..."
    if not first:
        return type(exc).__name__
    return f"{type(exc).__name__}: {first}" if with_type else first
