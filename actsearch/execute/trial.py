"""A trial: one training the search asks an executor to run, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Trial:
    """Everything a worker needs besides the task's data: workers get only expression text
    (the search sends the light form, an exact rewrite of the proposal; the worker parses it,
    which canonicalises it, and reports the form it trained in `EvalResult.expr`)."""

    trial_id: int
    candidate_id: int
    expr: str
    seed: int
    epochs: int | None = None
    #: multi-fidelity rungs: (epoch, threshold) pairs by epoch; below a rung's threshold the training stops there
    rungs: tuple[tuple[int, float], ...] = ()
    parametric: bool = False
    #: `expr` is prefix-call text of a tree to train exactly as written, its constants
    #: trainable (Lamarckian: the learned ones map back onto the proposal's tree)
    exact: bool = False
    #: the task to train on, by name (a worker holds one or several; a keyword, and required:
    #: no trial leaves it to the worker to guess)
    task: str = field(kw_only=True)
