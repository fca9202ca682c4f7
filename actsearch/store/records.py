"""Frozen records returned by the store (ORM rows never leave it).

All timestamps are timezone-aware UTC datetimes. Records are plain, picklable
values; `RunRecord.config` is a fresh dict decoded from the stored JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from actsearch.results import SCORED
from actsearch.runconfig import split_tasks

RUN_STATUSES = ("running", "finished", "interrupted", "failed")
CANDIDATE_STATUSES = (
    "proposed",
    "rejected",
    "duplicate",
    "queued",
    "running",
    "evaluated",
    "failed",
    "pooled",  # scored by the surrogate, waiting for the rest of its pool
    "passed",  # the surrogate trained another of its pool instead
)
EVALUATION_STATUSES = ("ok", "failed", "timeout", "stopped")
ORIGINS = ("init", "crossover", "mutation:NAME", "baseline", "user")


class StoreError(RuntimeError):
    """A problem with the results database a user can cause or fix.

    The message is one line, fit to print as is (no traceback needed).
    """


class NotFoundError(StoreError, LookupError):
    """A run or candidate id that is not in the store."""


@dataclass(frozen=True)
class RunRecord:
    id: int
    name: str
    status: str
    task: str
    space: str
    seed: int
    config: dict[str, Any] = field(compare=False)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    actsearch_version: str
    notes: str | None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks searched on, from the `task` column (names joined by commas); needs
        no config parsing, so readers that must stay light (no sympy) can use it."""
        return split_tasks(self.task)


@dataclass(frozen=True)
class RunSummary:
    id: int
    name: str
    status: str
    task: str
    created_at: datetime
    finished_at: datetime | None
    candidates: int  # all candidates of the run, any status
    evaluations: int  # final trainings (partial readings not counted)
    best_fitness: float | None
    best_expr: str | None


@dataclass(frozen=True)
class CandidateRecord:
    id: int
    run_id: int
    expr: str
    fingerprint: str
    complexity: int | None
    generation: int
    parents: tuple[int, ...]
    origin: str
    is_baseline: bool
    status: str
    reason: str | None
    equivalent_to: int | None
    fitness: float | None
    fitness_std: float | None
    genotype: str | None  # the tree as evolved, before simplification
    ask_seq: int | None  # place in the run's ask/tell sequence (resume replays it)
    tell_seq: int | None
    predicted: float | None  # the surrogate's prediction of its fitness, before it was trained
    learned: str | None  # Lamarckian: the tree as evolved with the learned constants (genotype text)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    candidate_id: int
    task: str
    seed: int
    planned_epochs: int  # epochs the training was planned for (a partial: the epoch read)
    status: str
    is_partial: bool  # a multi-fidelity reading part-way through a training
    partial_of: int | None  # for a partial: id of the final evaluation row
    fitness: float | None
    val_accuracy: float | None
    val_loss: float | None
    train_seconds: float | None
    epochs: int
    steps: int | None
    batch_size: int | None
    worker: str | None
    error: str | None
    learned: str | None  # a parametric training's learned constants, a JSON list (see learned_values)
    created_at: datetime

    @property
    def learned_values(self) -> tuple[float, ...] | None:
        """The learned constants, in the order of the trained expression's parameters."""
        return None if self.learned is None else tuple(float(v) for v in json.loads(self.learned))

    @property
    def scored(self) -> float | None:
        """The fitness if this training counts (ok or stopped at a rung), else None."""
        return self.fitness if self.status in SCORED else None


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    candidate_id: int
    run: str
    task: str
    expr: str
    fitness: float
    fitness_std: float | None
    complexity: int | None
    origin: str
    is_baseline: bool
    evaluations: int  # final trainings of this candidate
