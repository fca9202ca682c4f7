"""A trial: one training the search asks an executor to run, as plain data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trial:
    """Everything a worker needs besides the task: workers get only canonical strings."""

    trial_id: int
    candidate_id: int
    expr: str
    seed: int
    epochs: int | None = None
    hurdle: tuple[int, float] | None = None
    parametric: bool = False
    #: the task spec to train on, for workers that hold several; None: the worker's first
    task: str | None = None
