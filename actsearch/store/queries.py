"""Read-only queries beyond the `Store` facade: the overviews the dashboard and the
offline report show, returned as plain data (records, dicts, column lists).

They live beside the models so that no module outside `actsearch.store` needs
the ORM or the store's sessions. Most are column selects (no ORM rows), so that
a run with 10,000 candidates reads in a few tens of milliseconds; each function
reads in one session, i.e. one consistent snapshot while a search writes.
Formatting for pages stays in `actsearch.dashboard.views`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, select

from actsearch.store import convert
from actsearch.store.api import Store
from actsearch.store.models import Candidate, Evaluation, Run, Validation
from actsearch.store.records import RunRecord

# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Best:
    """The fittest evaluated candidate of one kind (evolved or baseline) of a run."""

    fitness: float
    candidate_id: int
    expr: str


@dataclass(frozen=True)
class RunTotals:
    """A run with what its overview line needs, from a few grouped queries."""

    run: RunRecord
    trainings: int  # final trainings (partial readings not counted)
    proposals: int  # evolved candidates proposed so far (baselines not counted)
    best: Best | None  # highest fitness among evaluated evolved candidates (lowest id on ties)
    best_baseline: Best | None


def run_totals(store: Store, run_id: int | None = None) -> list[RunTotals]:
    """Every run (or only `run_id`), oldest first, with trainings, proposals and best candidates."""

    def one_run(query: Any, column: Any = Candidate.run_id) -> Any:
        return query if run_id is None else query.where(column == run_id)

    with store.read_session() as s:
        runs = [convert.run_record(r) for r in s.scalars(one_run(select(Run), Run.id).order_by(Run.created_at, Run.id))]
        trainings = dict(
            s.execute(
                one_run(
                    select(Candidate.run_id, func.count(Evaluation.id))
                    .join(Evaluation, Evaluation.candidate_id == Candidate.id)
                    .where(Evaluation.is_partial == false())
                    .group_by(Candidate.run_id)
                )
            ).all()
        )
        proposals = dict(
            s.execute(
                one_run(
                    select(Candidate.run_id, func.count())
                    .where(Candidate.is_baseline == false())
                    .group_by(Candidate.run_id)
                )
            ).all()
        )
        top = one_run(
            select(Candidate.run_id, Candidate.is_baseline, func.max(Candidate.fitness).label("fitness"))
            .where(Candidate.fitness.is_not(None), Candidate.status == "evaluated")
            .group_by(Candidate.run_id, Candidate.is_baseline)
        ).subquery()
        best: dict[tuple[int, bool], Best] = {}
        for rid, is_baseline, fitness, cid, expr in s.execute(
            select(Candidate.run_id, Candidate.is_baseline, Candidate.fitness, Candidate.id, Candidate.expr)
            .join(
                top,
                (top.c.run_id == Candidate.run_id)
                & (top.c.is_baseline == Candidate.is_baseline)
                & (top.c.fitness == Candidate.fitness),
            )
            .where(Candidate.status == "evaluated")
            .order_by(Candidate.id)
        ):
            if fitness is not None:  # the query excludes NULL; this tells the type checker
                best.setdefault((rid, bool(is_baseline)), Best(fitness, cid, expr))
    return [
        RunTotals(
            run=r,
            trainings=trainings.get(r.id, 0),
            proposals=proposals.get(r.id, 0),
            best=best.get((r.id, False)),
            best_baseline=best.get((r.id, True)),
        )
        for r in runs
    ]


# --------------------------------------------------------------------------- one run


POINT_COLUMNS = (
    "evaluation",
    "candidate",
    "generation",
    "fitness",
    "status",
    "baseline",
    "expr",
    "candidate_fitness",
    "candidate_status",
)


def run_points(store: Store, run_id: int, after: int = 0) -> dict[str, list[Any]]:
    """The run's final evaluations with id > `after`, oldest first, by column (one
    list per name in POINT_COLUMNS: few Python objects for 10,000 trainings)."""
    query = (
        select(
            Evaluation.id,
            Candidate.id,
            Candidate.generation,
            Evaluation.fitness,
            Evaluation.status,
            Candidate.is_baseline,
            Candidate.expr,
            Candidate.fitness,
            Candidate.status,
        )
        .join(Candidate, Candidate.id == Evaluation.candidate_id)
        .where(Candidate.run_id == run_id, Evaluation.is_partial == false(), Evaluation.id > after)
        .order_by(Evaluation.id)
    )
    with store.read_session() as s:
        rows = s.execute(query).all()
    columns = list(zip(*rows)) if rows else [()] * len(POINT_COLUMNS)
    return {name: list(values) for name, values in zip(POINT_COLUMNS, columns)}


def rejection_reasons(store: Store, run_id: int) -> dict[str, int]:
    """How many evolved proposals were rejected for each reason, most frequent first."""
    with store.read_session() as s:
        rows = s.execute(
            select(Candidate.reason, func.count())
            .where(Candidate.run_id == run_id, Candidate.status == "rejected", Candidate.is_baseline == false())
            .group_by(Candidate.reason)
            .order_by(func.count().desc())
        )
        return {(reason or "unknown"): n for reason, n in rows}


def baselines(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The run's baselines in creation order: id, expr and fitness (None until trained)."""
    with store.read_session() as s:
        rows = s.execute(
            select(Candidate.id, Candidate.expr, Candidate.fitness)
            .where(Candidate.run_id == run_id, Candidate.is_baseline.is_(True))
            .order_by(Candidate.id)
        )
        return [{"id": i, "expr": e, "fitness": f} for i, e, f in rows]


# --------------------------------------------------------------------------- validations

#: (task, planned_epochs) -> expr -> test fitness of each stored seed, in seed order.
ValidationGroups = dict[tuple[str, int], dict[str, list[float]]]


def validation_fitnesses(store: Store, expr: str, run_id: int) -> tuple[ValidationGroups, list[str]]:
    """`actsearch validate`'s stored test fitnesses of `expr` and of its run's baselines,
    grouped by (task, planned_epochs) where `expr` has any; and the baselines' exprs
    (in run order)."""
    with store.read_session() as s:
        bases = s.execute(
            select(Candidate.expr)
            .where(Candidate.run_id == run_id, Candidate.is_baseline.is_(True), Candidate.expr != expr)
            .order_by(Candidate.id)
        )
        baseline_exprs = list(dict.fromkeys(e for (e,) in bases))
        rows = s.execute(
            select(Validation.task, Validation.planned_epochs, Validation.expr, Validation.fitness)
            .where(
                Validation.expr.in_([expr, *baseline_exprs]),
                Validation.status == "ok",
                Validation.fitness.is_not(None),
            )
            .order_by(Validation.task, Validation.planned_epochs, Validation.seed)
        ).all()
    groups: ValidationGroups = {}
    for task, epochs, e, fitness in rows:
        if fitness is not None:  # the query excludes NULL; this tells the type checker
            groups.setdefault((task, epochs), {}).setdefault(e, []).append(fitness)
    return {key: by_expr for key, by_expr in groups.items() if expr in by_expr}, baseline_exprs
