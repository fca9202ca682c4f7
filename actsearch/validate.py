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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from actsearch.execute import Executor, Trial, make_executor, run_all
from actsearch.results import EvalResult, aggregate_fitness
from actsearch.tasks import TaskData, get_task

#: Called with (results so far, results in all) as trainings come back.
Progress = Callable[[int, int], None]


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
        return aggregate_fitness(self.fitnesses)[0]

    @property
    def std(self) -> float | None:
        return aggregate_fitness(self.fitnesses)[1]


def held_out(data: TaskData) -> TaskData:
    """The task's data with the test split where training scores its validation."""
    if len(data.y_test) == 0:
        raise ValueError("the task has no test split to validate on")
    return replace(data, x_val=data.x_test, y_val=data.y_test)


def validate(contenders: Sequence[Contender], tasks: Sequence[str], seeds: Sequence[int], *,
             executor: str = "ray", workers: int = 0, epochs: int | None = None,
             on_result: Progress | None = None) -> list[Score]:
    """Train every contender on every task with every seed; score on the test split."""
    session: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if executor == "ray":
        from actsearch.execute.ray_pool import ray_session

        session = ray_session()
    with session:
        return _validate(contenders, tasks, seeds, executor, workers, epochs, on_result)


def _validate(contenders: Sequence[Contender], tasks: Sequence[str], seeds: Sequence[int], executor: str,
              workers: int, epochs: int | None, on_result: Progress | None) -> list[Score]:
    scores: list[Score] = []
    for spec in tasks:
        task = get_task(spec)
        options: dict[str, object] = {} if executor == "local" else {"workers": workers}
        pool = make_executor(executor, spec, held_out(task.get_data()), **options)
        try:
            results = _run_all(pool, contenders, seeds, epochs, on_result)
        finally:
            pool.shutdown()
        for index, contender in enumerate(contenders):
            fitnesses = tuple(results[(index, seed)].scored for seed in seeds)
            scores.append(Score(contender.expr, contender.is_baseline, task.name, fitnesses))
    return scores


def _run_all(pool: Executor, contenders: Sequence[Contender], seeds: Sequence[int], epochs: int | None,
             on_result: Progress | None) -> dict[tuple[int, int], EvalResult]:
    trials = [
        Trial(trial_id=i, candidate_id=index, expr=c.expr, seed=seed, epochs=epochs)
        for i, (index, c, seed) in enumerate((n, c, s) for n, c in enumerate(contenders) for s in seeds)
    ]
    results: dict[tuple[int, int], EvalResult] = {}
    for trial, result in run_all(pool, trials):
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
