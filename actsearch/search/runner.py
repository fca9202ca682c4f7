"""From a request (the command-line flags) to a finished or resumed run.

The composition root of a search: loads the space and task, opens the store
and the executor, creates or resumes the run, runs the loop and summarises.
Everything a user can get wrong (space, task, run name) is checked before the
store is written to. A user's task is built once here for that; a built-in one is
not (our tests check them), so that with Ray the driver never imports TensorFlow
(5 CPU seconds, and as many of wall time at every start on 2 cores).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actsearch.search.loop import Observer, Reporter, Search, SearchError
from actsearch.spaces import SearchSettings, SearchSpace, with_overrides
from actsearch.store import DEFAULT_DB, LeaderRow, RunRecord, Store, StoreError

if TYPE_CHECKING:
    from actsearch.execute import Executor

LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; None means "the space's (or the stored run's) value"."""

    space: str = "default"
    task: str | None = None
    db: str = DEFAULT_DB
    run: str | None = None
    seed: int = 0
    workers: int = 0
    population: int | None = None
    generations: int | None = None
    trainings: int | None = None
    strategy: str | None = None
    epochs: int | None = None
    reevaluate_top: int | None = None
    address: str | None = None
    gpus_per_trial: float = 0.0
    trial_timeout: float | None = None
    executor: str = "ray"
    resume: bool = False
    batch_candidates: int | None = None


@dataclass(frozen=True)
class SearchOutcome:
    run: RunRecord
    counts: dict[str, int]
    trained: int
    leaderboard: list[LeaderRow]
    best: LeaderRow | None
    parametric: bool
    stopped_early: str | None = None
    utilisation: float | None = None  # the share of the workers' time spent training (loop.WorkerTime)
    #: several tasks: their specs, and per candidate and task its mean fitness and trainings
    tasks: tuple[str, ...] = ()
    task_means: dict[int, dict[str, tuple[float | None, int]]] | None = None
    surrogate_rank: tuple[float | None, int] | None = None  # loop.SearchSummary.surrogate_rank
    stopped: int = 0  # loop.SearchSummary.stopped
    spent: float = 0.0  # loop.SearchSummary.spent


#: the request's fields that override the space, by section of the space file
_OVERRIDES = {
    "evolution": ("population", "generations", "strategy"),
    "budget": ("epochs", "trainings", "reevaluate_top"),
}


def settings_for(request: SearchRequest) -> SearchSettings:
    """Load the space and apply the command-line overrides, `--task` included, before it is
    validated: the budget in trainings and the checks on several tasks then follow the flag."""
    from actsearch.spaces import load_space, task_list

    space = load_space(request.space)
    overrides = {
        section: {name: getattr(request, name) for name in names if getattr(request, name) is not None}
        for section, names in _OVERRIDES.items()
    }
    tasks = task_list(request.task, "--task") if request.task is not None else None
    space, notes = _yield_to_flags(space, overrides["evolution"].get("strategy"), tasks)
    return SearchSettings(with_overrides(space, tasks=tasks, **overrides), request.seed, notes)


def _yield_to_flags(
    space: SearchSpace, strategy: str | None, tasks: tuple[str, ...] | None
) -> tuple[SearchSpace, tuple[str, ...]]:
    """The space's options that a command-line flag rules out give way to the flag, each with
    a note (a space file that asks for both is still refused): `--strategy generational`
    turns off the surrogate (it needs a steady-state strategy), `--strategy random` Lamarckian
    constants (no offspring inherit them), several `--task` the rungs (one task only)."""
    notes = []
    if strategy == "generational" and space.surrogate.enabled:
        space = with_overrides(space, surrogate={"enabled": False})
        notes.append("--strategy generational: the space's surrogate is off (it needs a steady-state strategy)")
    if strategy == "random" and space.evolution.lamarckian:
        space = with_overrides(space, evolution={"lamarckian": False})
        notes.append("--strategy random: the space's Lamarckian constants are off (no offspring inherit them)")
    if tasks is not None and len(tasks) > 1 and space.budget.rungs is not None:
        space = with_overrides(space, budget={"rungs": None})
        notes.append("several tasks: the space's rungs are off (rung readings of tasks do not compare)")
    return space, tuple(notes)


def run_search(
    request: SearchRequest,
    reporter: Reporter | None = None,
    observer: Observer | None = None,
    wrap_executor: Callable[[Executor], Executor] | None = None,
) -> SearchOutcome:
    """Check the request, start or resume the run, train on the executor, and summarise.

    `observer` sees the loop's parts as they run and `wrap_executor` may wrap the executor
    (same protocol): the hooks that benchmarks time the search through."""
    from actsearch.execute import make_executor
    from actsearch.execute.batching import members_per_batch
    from actsearch.tasks import check_task, get_task, task_names

    if request.resume:
        store = Store.open(request.db)
        run, settings = _resume_run(store, request)
    else:
        settings = settings_for(request)
    tasks = [get_task(spec) for spec in settings.tasks]
    data = tuple(task.get_data() for task in tasks)
    options = (
        {}
        if request.executor == "local"
        else {
            "workers": request.workers,
            "gpus_per_trial": request.gpus_per_trial,
            "address": request.address,
            "trial_timeout": request.trial_timeout,
        }
    )
    options["members_per_batch"] = members_per_batch(
        request.batch_candidates or settings.space.budget.batch_candidates,
        settings.space.budget.seeds_per_candidate,
        use_gpu=request.gpus_per_trial > 0,
        local=request.executor == "local",
    )
    executor = make_executor(request.executor, settings.tasks, data, **options)
    if wrap_executor is not None:
        executor = wrap_executor(executor)
    try:
        if not request.resume:
            for task in tasks:
                if task.spec not in task_names():  # the built-in ones are checked by our tests
                    check_task(task)  # a user's task: fail here in one line, not in the workers
            store = Store.open(request.db)
            run = _new_run(store, request, settings)
    except BaseException:
        executor.shutdown()
        raise
    search = Search(settings, store, executor, run, reporter, observer)
    try:
        summary = search.run()
    except BaseException:
        store.retry_seconds = min(store.retry_seconds, 5.0)  # a database out of reach: say so soon
        with contextlib.suppress(StoreError):  # and say what stopped the search, not this
            store.set_run_status(run.id, "interrupted")
        raise
    finally:
        executor.shutdown()
    ranked = store.leaderboard(run=run.name, k=None)
    board = [row for row in ranked if row.rank <= LEADERBOARD_SIZE or row.is_baseline]  # baselines always shown
    best = next((row for row in ranked if not row.is_baseline), None)
    return SearchOutcome(
        summary.run,
        summary.counts,
        summary.trained,
        board,
        best,
        settings.space.parametric,
        summary.stopped_early,
        summary.utilisation,
        settings.tasks,
        store.task_means(run.id) if len(settings.tasks) > 1 else None,
        summary.surrogate_rank,
        summary.stopped,
        summary.spent,
    )


def _resume_run(store: Store, request: SearchRequest) -> tuple[RunRecord, SearchSettings]:
    if not request.run:
        raise SearchError("--resume needs --run NAME (see `actsearch runs`)")
    run = store.find_run(request.run)
    if run is None:
        raise SearchError(f"no run named {request.run!r} to resume")
    if run.status == "finished":
        raise SearchError(f"run {request.run!r} already finished")
    store.set_run_status(run.id, "running")
    return run, SearchSettings.from_config(run.config)


def _new_run(store: Store, request: SearchRequest, settings: SearchSettings) -> RunRecord:
    name = request.run or f"{settings.space.name}-{_timestamp()}"
    if store.find_run(name) is not None:
        raise SearchError(f"run {name!r} already exists: pick another --run, or add --resume to continue it")
    return store.create_run(
        name, task=settings.task_label, space=settings.space.name, seed=settings.seed, config=settings.to_config()
    )


def _timestamp() -> str:
    from datetime import datetime

    return f"{datetime.now():%Y%m%d-%H%M%S}"
