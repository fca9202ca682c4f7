"""Validation: does a discovered activation beat the standard ones on data the search never saw?

Each activation (the run's best and the baselines) is trained on each task's
training split with several seeds, under the task's budget, and scored on the
task's test split, which the search never reads. A discovery counts on a
task only if its mean test fitness beats every baseline's mean there.

The trainings run on the same executors as a search (Ray actors by default):
the executor is simply given the task data with the test split in the place
of the validation split.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from actsearch.execute import Trial, make_executor
from actsearch.results import EvalResult
from actsearch.tasks import TaskData, get_task


@dataclass(frozen=True)
class Contender:
    expr: str
    is_baseline: bool
    candidate_id: int | None = None


@dataclass(frozen=True)
class Score:
    """One activation on one task: test fitness over seeds."""

    expr: str
    is_baseline: bool
    task: str
    fitnesses: tuple[float | None, ...]

    @property
    def ok(self) -> list[float]:
        return [f for f in self.fitnesses if f is not None]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.ok) if self.ok and len(self.ok) == len(self.fitnesses) else None

    @property
    def std(self) -> float | None:
        return statistics.pstdev(self.ok) if len(self.ok) > 1 else None


def held_out(data: TaskData) -> TaskData:
    """The task's data with the test split where training scores its validation."""
    if len(data.y_test) == 0:
        raise ValueError("the task has no test split to validate on")
    return replace(data, x_val=data.x_test, y_val=data.y_test)


def validate(contenders: Sequence[Contender], tasks: Sequence[str], seeds: Sequence[int], *,
             executor: str = "ray", workers: int = 0, epochs: int | None = None,
             on_result: Any = None) -> list[Score]:
    """Train every contender on every task with every seed; score on the test split."""
    if executor == "ray":
        from actsearch.execute.ray_pool import ray_session

        session = ray_session()
    else:
        session = contextlib.nullcontext()
    with session:
        return _validate(contenders, tasks, seeds, executor, workers, epochs, on_result)


def _validate(contenders: Sequence[Contender], tasks: Sequence[str], seeds: Sequence[int], executor: str,
              workers: int, epochs: int | None, on_result: Any) -> list[Score]:
    scores: list[Score] = []
    for spec in tasks:
        task = get_task(spec)
        options = {} if executor == "local" else {"workers": workers}
        pool = make_executor(executor, spec, held_out(task.get_data()), **options)
        try:
            results = _run_all(pool, contenders, seeds, epochs, on_result)
        finally:
            pool.shutdown()
        for index, contender in enumerate(contenders):
            fitnesses = tuple(
                results[(index, seed)].fitness if results[(index, seed)].status == "ok" else None for seed in seeds
            )
            scores.append(Score(contender.expr, contender.is_baseline, task.name, fitnesses))
    return scores


def _run_all(pool: Any, contenders: Sequence[Contender], seeds: Sequence[int], epochs: int | None,
             on_result: Any) -> dict[tuple[int, int], EvalResult]:
    trials = [
        Trial(trial_id=i, candidate_id=index, expr=c.expr, seed=seed, epochs=epochs)
        for i, (index, c, seed) in enumerate((n, c, s) for n, c in enumerate(contenders) for s in seeds)
    ]
    results: dict[tuple[int, int], EvalResult] = {}
    pending = list(trials)
    while pending or pool.in_flight:
        while pending and pool.in_flight < pool.capacity:
            pool.submit(pending.pop(0))
        for trial, result in pool.wait():
            results[(trial.candidate_id, trial.seed)] = result
            if on_result:
                on_result(len(results), len(trials))
    return results


def discoveries(scores: Sequence[Score]) -> dict[str, list[str]]:
    """For each non-baseline activation, the tasks on which it beats every baseline."""
    by_task: dict[str, list[Score]] = {}
    for score in scores:
        by_task.setdefault(score.task, []).append(score)
    wins: dict[str, list[str]] = {s.expr: [] for s in scores if not s.is_baseline}
    for task, rows in by_task.items():
        baseline_means = [s.mean for s in rows if s.is_baseline]
        best_baseline = max((m for m in baseline_means if m is not None), default=None)
        for score in rows:
            if score.is_baseline or score.mean is None:
                continue
            if best_baseline is None or score.mean > best_baseline:
                wins[score.expr].append(task)
    return wins
