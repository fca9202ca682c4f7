"""Validation: does a discovered activation beat the standard ones on data the search never saw?

Each activation (the run's best and the baselines) is trained on each task's
training split with several seeds, under the task's budget, and scored on the
task's test split, which the search never reads. The seeds are disjoint from
every seed the run trained with. A discovery counts on a task only if it
beats every baseline there significantly: Welch's t-test against each
baseline, Holm-corrected across the baselines (see `actsearch.stats`).
Results are stored in the `validations` table and reused.

The trainings run on the same executors as a search (Ray actors by default):
the executor is simply given the task data with the test split in the place
of the validation split.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from actsearch.execute import Trial, make_executor, run_all
from actsearch.results import aggregate_fitness
from actsearch.stats import ALPHA, Comparison, beats, holm, pooled_spread, welch

if TYPE_CHECKING:  # the tasks (and TensorFlow) load when a validation trains, not to plan one
    from actsearch.store import Store
    from actsearch.tasks import TaskData

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
        """Sample standard deviation over the seeds that trained (the one the t-test uses)."""
        return statistics.stdev(self.ok) if len(self.ok) > 1 else None


def held_out(data: TaskData) -> TaskData:
    """The task's data with the test split where training scores its validation."""
    if len(data.y_test) == 0:
        raise ValueError("the task has no test split to validate on")
    return replace(data, x_val=data.x_test, y_val=data.y_test)


#: Validation seeds start here by default: far from the seeds searches train with (0, 1, ...).
SEED_START = 10_000


class SeedOverlapError(ValueError):
    """Validation seeds that a run (or an earlier training of a contender) already trained with."""


def choose_seeds(n: int, trained: set[int], start: int | None = None) -> list[int]:
    """`n` seeds disjoint from `trained`: from `start` (checked) or by default from SEED_START
    (moved past the largest trained seed if the searches reached that far)."""
    if n < 1:
        raise ValueError("validation needs at least one seed")
    if start is None:
        start = max([SEED_START] + [s + 1 for s in trained if s >= SEED_START])
    seeds = list(range(start, start + n))
    overlap = sorted(set(seeds) & trained)
    if overlap:
        raise SeedOverlapError(
            f"validation seeds {seeds[0]}..{seeds[-1]} include seed(s) {_short(overlap)} the search already "
            f"trained with; choose a --seed-start past {max(trained)} or leave it out"
        )
    return seeds


def _short(values: list[int]) -> str:
    return ", ".join(map(str, values[:5])) + (", ..." if len(values) > 5 else "")


# ------------------------------------------------------------------ planning

#: Tasks validated when neither --tasks nor a run names any.
DEFAULT_TASKS = ("mnist1d-mlp",)


class PlanError(ValueError):
    """A validation that cannot be planned; the message is one line, fit to print as is."""


@dataclass(frozen=True)
class ValidationPlan:
    """What one validation trains: contenders (baselines added) x tasks x seeds.

    `store` is open on the database, ready to reuse and record results; `run_id` is
    the run validated, if any (its seeds were kept out of `seeds`)."""

    contenders: tuple[Contender, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    run_id: int | None
    store: Store = field(repr=False, compare=False)


def plan_validation(
    db: str,
    *,
    run: str | None = None,
    top_k: int = 3,
    exprs: Sequence[str] = (),
    tasks: str | None = None,
    suite: str | None = None,
    seeds: int = 5,
    seed_start: int | None = None,
) -> ValidationPlan:
    """Decide what `validate` trains: the `exprs` and the `top_k` best of `run`, plus the
    default baselines; `tasks` (comma-separated) or the tasks of `suite` (see
    actsearch.tasks.suites), else the run's tasks and its space's validate_tasks, else
    DEFAULT_TASKS; `seeds` seeds none of them trained with.

    Raises PlanError before anything is written when the request cannot be met (bad
    expression, unknown run, store or suite, a suite task this installation lacks,
    both tasks and suite, nothing to validate, overlapping seeds)."""
    from actsearch.store import StoreError
    from actsearch.store.validations import Validations

    if tasks is not None and suite is not None:
        raise PlanError("give --suite or --tasks, not both")
    # a bad list or suite is refused before the store is opened
    given_tasks = _suite_tasks(suite) if suite is not None else _given_tasks(tasks)
    contenders = [Contender(_canonical(e), False) for e in exprs]
    store = _open(db, create=False) if run else None
    run_record = None
    if run:
        assert store is not None
        run_record = store.find_run(run)
        if run_record is None:
            raise PlanError(f"no run named {run!r} in {db}")
        best = [r for r in store.leaderboard(run=run, k=None) if not r.is_baseline][:top_k]
        contenders += [Contender(r.expr, False, r.candidate_id) for r in best]
    if not contenders:
        raise PlanError("give --run NAME (to validate its best activations) or --expr E")
    store = store or _open(db, create=True)
    contenders += _baselines({c.expr for c in contenders})
    try:
        trained = Validations(store).trained_seeds(run_record.id if run_record else None, [c.expr for c in contenders])
        seed_list = choose_seeds(seeds, trained, seed_start)
    except (StoreError, ValueError) as err:  # SeedOverlapError is a ValueError
        raise PlanError(str(err)) from err
    return ValidationPlan(
        contenders=tuple(contenders),
        tasks=given_tasks or _run_tasks(run_record),
        seeds=tuple(seed_list),
        run_id=run_record.id if run_record else None,
        store=store,
    )


def _given_tasks(tasks: str | None) -> tuple[str, ...]:
    """The --tasks list (comma-separated), empty when not given."""
    from actsearch.spaces import SpaceError, task_list

    try:
        return task_list(tasks, "--tasks") if tasks else ()
    except SpaceError as err:
        raise PlanError(str(err)) from err


def _suite_tasks(name: str) -> tuple[str, ...]:
    """The tasks of the suite `name`, every one a built-in task of this installation."""
    from actsearch.tasks import task_names
    from actsearch.tasks.suites import SuiteError, get_suite

    try:
        suite = get_suite(name)
    except SuiteError as err:
        raise PlanError(str(err)) from err
    missing = [t for t in suite.tasks if t not in task_names()]
    if missing:
        raise PlanError(
            f"suite {suite.name!r} names task(s) this installation does not have: {', '.join(missing)}; "
            f"known tasks: {', '.join(task_names())}"
        )
    return suite.tasks


def _run_tasks(run_record: Any) -> tuple[str, ...]:
    """The run's tasks and its space's validation-only ones, else DEFAULT_TASKS."""
    from actsearch.runconfig import run_tasks

    if run_record is None:
        return DEFAULT_TASKS
    searched, validation_only = run_tasks(run_record.config, run_record.task)
    return (*searched, *validation_only)


def _baselines(known: set[str]) -> list[Contender]:
    """The default baselines the contenders do not already include."""
    from actsearch.spaces import DEFAULT_BASELINES

    canonical = [_canonical(b) for b in DEFAULT_BASELINES]
    return [Contender(b, True) for b in canonical if b not in known]


def _canonical(text: str) -> str:
    from actsearch.expr import Activation, ParseError

    try:
        return str(Activation.parse(text))
    except ParseError as err:
        raise PlanError(f"{text!r}: {err}") from err


def _open(db: str, create: bool) -> Store:
    from actsearch.store import Store, StoreError

    try:
        return Store.open(db, create=create)
    except StoreError as err:
        hint = "" if create else " (run `actsearch search` first, or pass --db)"
        raise PlanError(f"{err}{hint}") from err


# ------------------------------------------------------------------ training


def validate(
    contenders: Sequence[Contender],
    tasks: Sequence[str],
    seeds: Sequence[int],
    *,
    executor: str = "ray",
    workers: int = 0,
    epochs: int | None = None,
    on_result: Progress | None = None,
    store: Any = None,
    run_id: int | None = None,
) -> list[Score]:
    """Train every contender on every task with every seed; score on the test split.

    With a `store`, results already stored for the same (activation, task, seed,
    epochs) are reused and every new result is stored as soon as it arrives.
    """
    from actsearch.store.validations import Validations

    saved = Validations(store) if store is not None else None
    session: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if executor == "ray":
        from actsearch.execute.ray_pool import ray_session

        session = ray_session()
    with session:
        return _validate(contenders, tasks, seeds, executor, workers, epochs, on_result, saved, run_id)


def _validate(
    contenders: Sequence[Contender],
    tasks: Sequence[str],
    seeds: Sequence[int],
    executor: str,
    workers: int,
    epochs: int | None,
    on_result: Progress | None,
    saved: Any,
    run_id: int | None,
) -> list[Score]:
    from actsearch.tasks import get_task

    scores: list[Score] = []
    for spec in tasks:
        task = get_task(spec)
        planned = epochs or task.setup.epochs
        known = saved.saved([c.expr for c in contenders], spec, planned) if saved else {}
        fitness = {key: (r.fitness if r.status == "ok" else None) for key, r in known.items()}
        todo = [(c.expr, seed) for c in contenders for seed in seeds if (c.expr, seed) not in fitness]
        if todo:
            fitness.update(_train(spec, task, todo, executor, workers, epochs, planned, on_result, saved, run_id))
        for contender in contenders:
            scores.append(
                Score(
                    contender.expr,
                    contender.is_baseline,
                    task.name,
                    tuple(fitness[(contender.expr, seed)] for seed in seeds),
                )
            )
    return scores


def _train(
    spec: str,
    task: Any,
    todo: list[tuple[str, int]],
    executor: str,
    workers: int,
    epochs: int | None,
    planned: int,
    on_result: Progress | None,
    saved: Any,
    run_id: int | None,
) -> dict[tuple[str, int], float | None]:
    """Train the missing (activation, seed) pairs; store each result as it arrives."""
    options: dict[str, object] = {} if executor == "local" else {"workers": workers}
    pool = make_executor(executor, (spec,), (held_out(task.get_data()),), **options)
    exprs = list(dict.fromkeys(expr for expr, _ in todo))
    trials = [
        Trial(trial_id=i, candidate_id=exprs.index(expr), expr=expr, seed=seed, epochs=epochs, task=spec)
        for i, (expr, seed) in enumerate(todo)
    ]
    out: dict[tuple[str, int], float | None] = {}
    try:
        for trial, result in run_all(pool, trials):
            out[(trial.expr, trial.seed)] = result.scored
            if saved:
                saved.save(
                    expr=trial.expr, task=spec, seed=trial.seed, planned_epochs=planned, result=result, run_id=run_id
                )
            if on_result:
                on_result(len(out), len(todo))
    finally:
        pool.shutdown()
    return out


# ------------------------------------------------------------------ statistics


@dataclass(frozen=True)
class Versus:
    """One activation against one baseline on one task."""

    baseline: str
    comparison: Comparison
    p_holm: float | None

    @property
    def significant(self) -> bool:
        return beats(self.comparison, self.p_holm)


@dataclass(frozen=True)
class Verdict:
    """An activation on a task: its comparisons with every baseline, Holm-corrected across them.

    `better` only when every seed trained and it beats every baseline significantly.
    """

    expr: str
    task: str
    versus: tuple[Versus, ...]
    complete: bool

    @property
    def better(self) -> bool:
        return self.complete and bool(self.versus) and all(v.significant for v in self.versus)


def verdicts(scores: Sequence[Score]) -> list[Verdict]:
    """Welch's t-test of each activation against each baseline per task, Holm across baselines."""
    out: list[Verdict] = []
    for task, rows in _by_task(scores).items():
        baselines = [s for s in rows if s.is_baseline and s.ok]
        for score in rows:
            if score.is_baseline:
                continue
            if not score.ok:
                out.append(Verdict(score.expr, task, (), False))
                continue
            comparisons = [welch(score.ok, b.ok) for b in baselines]
            adjusted = holm([c.p for c in comparisons])
            versus = tuple(Versus(b.expr, c, p) for b, c, p in zip(baselines, comparisons, adjusted))
            out.append(Verdict(score.expr, task, versus, len(score.ok) == len(score.fitnesses)))
    return out


def discoveries(scores: Sequence[Score]) -> dict[str, list[str]]:
    """For each non-baseline activation, the tasks on which it beats every baseline significantly."""
    wins: dict[str, list[str]] = {s.expr: [] for s in scores if not s.is_baseline}
    for verdict in verdicts(scores):
        if verdict.better:
            wins[verdict.expr].append(verdict.task)
    return wins


@dataclass(frozen=True)
class RelativeToBestBaseline:
    """An activation over every task validated: how it does against the best baseline of each."""

    expr: str
    #: mean over the tasks of (its mean - the best baseline's mean); None if a task has no mean
    vs_best_baseline: float | None
    #: tasks where the best baseline (by mean) beats it significantly (Holm-corrected Welch p)
    worse_on: tuple[str, ...]
    #: tasks where it beats every baseline significantly
    better_on: tuple[str, ...]


def relative_to_best_baseline(scores: Sequence[Score]) -> list[RelativeToBestBaseline]:
    """Each non-baseline activation against the best baseline of every task: the transfer
    summary (meaningful with several tasks; the JSON's `across_tasks`)."""
    best = _best_baselines(scores)
    found = verdicts(scores)
    out = []
    for expr in dict.fromkeys(s.expr for s in scores if not s.is_baseline):
        diffs = []
        for s in scores:
            top = best.get(s.task)
            if s.expr == expr and not s.is_baseline and s.mean is not None and top and top.mean is not None:
                diffs.append(s.mean - top.mean)
        mine = [v for v in found if v.expr == expr]
        worse = [v.task for v in mine if any(_loses(x, best[v.task]) for x in v.versus)]
        vs_best = sum(diffs) / len(diffs) if diffs and len(diffs) == len(best) else None
        out.append(RelativeToBestBaseline(expr, vs_best, tuple(worse), tuple(v.task for v in mine if v.better)))
    return out


@dataclass(frozen=True)
class PickSummary:
    """One pick over every task validated, against every baseline (the summary row of `validate`)."""

    expr: str
    #: comparisons (task x baseline) where the pick is significantly better (Holm-corrected
    #: Welch p below alpha, every seed trained), significantly worse, or neither
    wins: int
    ties: int
    losses: int
    #: the baselines it was compared with, and the tasks validated
    baselines: int
    tasks: int
    #: per task: (pick's mean - best baseline's mean) / the task's seed spread; None where undefined
    normalised: dict[str, float | None]

    @property
    def mean_normalised(self) -> float | None:
        """Mean over the tasks of `normalised`; None unless defined on every task."""
        values = list(self.normalised.values())
        if not values or any(v is None for v in values):
            return None
        return math.fsum(v for v in values if v is not None) / len(values)


def seed_spread(baselines: Sequence[Score]) -> float | None:
    """A task's seed spread: the pooled sample standard deviation over seeds of its
    baselines, sqrt of the mean of their per-seed variances (each over the seeds that
    trained). None when no baseline has two trained seeds, or when the spread is zero:
    a difference in units of it is then undefined."""
    spread = pooled_spread([s.ok for s in baselines])
    return spread if spread else None


def summaries(scores: Sequence[Score]) -> list[PickSummary]:
    """Each pick (non-baseline) over the tasks validated: wins / ties / losses against every
    baseline on every task, with the verdicts' Welch test and Holm correction, and the
    mean normalised difference: the mean over tasks of (its mean - the best baseline's
    mean on the task) / the task's `seed_spread`. A pick whose mean or a task whose
    spread is undefined (a failed seed, one seed) leaves that task's difference None,
    and the mean None; a comparison of a pick with a failed seed is never a win, and a
    task where no seed of it trained has no comparisons."""
    by_task = _by_task(scores)
    best = _best_baselines(scores)
    spread = {task: seed_spread([s for s in rows if s.is_baseline]) for task, rows in by_task.items()}
    found = verdicts(scores)
    baselines = {s.expr for s in scores if s.is_baseline}
    out = []
    for expr in dict.fromkeys(s.expr for s in scores if not s.is_baseline):
        mine = [v for v in found if v.expr == expr]
        versus = [(v.complete, x) for v in mine for x in v.versus]
        wins = sum(complete and x.significant for complete, x in versus)
        losses = sum(_worse(x) for _, x in versus)
        normalised: dict[str, float | None] = {}
        for s in scores:
            if s.expr == expr and not s.is_baseline:
                top, unit = best.get(s.task), spread.get(s.task)
                mean, reference = s.mean, top.mean if top is not None else None
                if mean is None or reference is None or unit is None:
                    normalised[s.task] = None
                else:
                    normalised[s.task] = (mean - reference) / unit
        out.append(
            PickSummary(expr, wins, len(versus) - wins - losses, losses, len(baselines), len(by_task), normalised)
        )
    return out


def _best_baselines(scores: Sequence[Score]) -> dict[str, Score | None]:
    """Per task, the baseline with the highest mean (None if no baseline has one)."""
    best: dict[str, Score | None] = {}
    for task, rows in _by_task(scores).items():
        trained = [s for s in rows if s.is_baseline and s.mean is not None]
        best[task] = max(trained, key=lambda s: s.mean or 0.0) if trained else None
    return best


def _worse(versus: Versus) -> bool:
    """Significantly worse than that baseline (Holm-corrected p below alpha)."""
    return versus.p_holm is not None and versus.p_holm < ALPHA and versus.comparison.diff < 0


def _loses(versus: Versus, best: Score | None) -> bool:
    """Significantly worse than the best baseline (Holm-corrected p below alpha)."""
    return best is not None and versus.baseline == best.expr and _worse(versus)


def _by_task(scores: Sequence[Score]) -> dict[str, list[Score]]:
    by_task: dict[str, list[Score]] = {}
    for score in scores:
        by_task.setdefault(score.task, []).append(score)
    return by_task


# ------------------------------------------------------------------ output


def summarise(scores: Sequence[Score], seeds: Sequence[int]) -> dict[str, Any]:
    """The JSON of `validate`: the `scores` (with each non-baseline's comparisons), the
    verdict, and each pick's `summary` over the tasks (wins, ties, losses, normalised difference)."""
    by_key = {(v.expr, v.task): v for v in verdicts(scores)}
    out = []
    for s in scores:
        item: dict[str, Any] = {
            "expr": s.expr,
            "baseline": s.is_baseline,
            "task": s.task,
            "mean": s.mean,
            "std": s.std,
            "fitnesses": list(s.fitnesses),
        }
        verdict = by_key.get((s.expr, s.task))
        if verdict is not None:
            item["better"] = verdict.better
            item["versus"] = [_versus_dict(v) for v in verdict.versus]
        out.append(item)
    result = {
        "seeds": list(seeds),
        "test": "Welch t-test, two-sided, Holm-corrected across baselines, alpha 0.05",
        "scores": out,
        "beats_all_baselines_on": discoveries(scores),
    }
    result["summary"] = {p.expr: summary_dict(p) for p in summaries(scores)}
    if len(_by_task(scores)) > 1:
        result["across_tasks"] = {
            a.expr: {
                "mean_vs_best_baseline": a.vs_best_baseline,
                "significantly_worse_than_best_baseline_on": list(a.worse_on),
                "beats_every_baseline_on": list(a.better_on),
            }
            for a in relative_to_best_baseline(scores)
        }
    return result


def summary_dict(p: PickSummary) -> dict[str, Any]:
    """A pick's summary as plain data (the JSON's `summary`, the dashboard's view)."""
    return {
        "wins": p.wins,
        "ties": p.ties,
        "losses": p.losses,
        "baselines": p.baselines,
        "tasks": p.tasks,
        "mean_normalised_difference": p.mean_normalised,
        "normalised_difference": dict(p.normalised),
    }


def summary_line(expr: str, summary: dict[str, Any]) -> str:
    """The summary row of the table: one line per pick."""
    mean = summary["mean_normalised_difference"]
    tasks, baselines = summary["tasks"], summary["baselines"]
    return (
        f"SUMMARY  {expr}  wins {summary['wins']} / ties {summary['ties']} / losses {summary['losses']} "
        f"vs {baselines} baseline{'s' * (baselines != 1)} on {tasks} task{'s' * (tasks != 1)}; "
        f"mean normalised difference {'n/a' if mean is None else f'{mean:+.2f}'} (units of each task's seed spread)"
    )


def summary_rows(scores: Sequence[Score]) -> list[dict[str, Any]]:
    """One row per pick for csv/markdown: its wins, ties, losses and mean normalised difference."""
    rows = [{"expr": p.expr, **summary_dict(p)} for p in summaries(scores)]
    return [{k: v for k, v in row.items() if k != "normalised_difference"} for row in rows]


def flat_rows(scores: Sequence[Score]) -> list[dict[str, Any]]:
    """One row per activation, task and baseline compared with (baselines: one row each), for csv/markdown."""
    by_key = {(v.expr, v.task): v for v in verdicts(scores)}
    rows: list[dict[str, Any]] = []
    for s in scores:
        base = {"task": s.task, "expr": s.expr, "baseline": s.is_baseline, "n": len(s.ok), "mean": s.mean, "std": s.std}
        verdict = by_key.get((s.expr, s.task))
        if verdict is None or not verdict.versus:
            rows.append({**base, **dict.fromkeys(_VERSUS_KEYS), "better": None if s.is_baseline else False})
            continue
        rows.extend({**base, **_versus_dict(v), "better": verdict.better} for v in verdict.versus)
    return rows


_VERSUS_KEYS = ("vs", "diff", "ci_low", "ci_high", "p", "p_holm", "significant")


def _versus_dict(v: Versus) -> dict[str, Any]:
    c = v.comparison
    return dict(zip(_VERSUS_KEYS, (v.baseline, c.diff, c.low, c.high, c.p, v.p_holm, v.significant)))
