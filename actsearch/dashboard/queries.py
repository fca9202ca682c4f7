"""Read-only access to the store for the dashboard, and the few queries it adds.

The dashboard opens the database read-only (SQLite `mode=ro`, PostgreSQL
read-only transactions) so that it can never write, migrate or hold a write
lock: a search writing to the same file keeps going (SQLite WAL readers do not
block the writer). The `Store` facade's read methods serve most views; the
queries here are the dashboard's own, written as column selects (no ORM rows)
so that a run with 10,000 candidates reads in a few tens of milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, false, func, inspect, select, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError

from actsearch.store import RunRecord, Store, StoreError, schema
from actsearch.store.models import Candidate, Evaluation, Run, Validation

SQLITE_TIMEOUT_S = 30.0


def open_readonly(db: str | Path) -> Store:
    """A `Store` over a read-only connection. StoreError (one line) for a missing
    database, one that is not ours, one of a newer schema or an older one (which
    would need a migration, i.e. a write: any other actsearch command does it)."""
    url = schema.resolve_url(db)
    where = schema.display_url(url)
    engine = _readonly_engine(url, where)
    try:
        _check_schema(engine, where)
    except StoreError:
        engine.dispose()
        raise
    except DBAPIError as exc:
        engine.dispose()
        msg = schema.one_line(exc)
        if "file is not a database" in msg:
            raise StoreError(f"{where} is not an actsearch database (not an SQLite file)") from exc
        raise StoreError(f"cannot open {where}: {msg}") from exc
    return Store(engine, url)


def _readonly_engine(url: URL, where: str) -> Engine:
    if url.get_backend_name() == "sqlite":
        if schema.is_memory(url) or url.database is None:
            raise StoreError("the dashboard needs a database file or server, not :memory:")
        path = Path(url.database)
        if not path.is_file():
            raise StoreError(f"no actsearch database at {path}")
        ro = URL.create("sqlite", database=f"file:{path.as_posix()}?mode=ro", query={"uri": "true"})
        return create_engine(ro, connect_args={"timeout": SQLITE_TIMEOUT_S, "check_same_thread": False})
    options = f"{url.query.get('options', '')} -c default_transaction_read_only=on".strip()
    try:
        return create_engine(url.update_query_dict({"options": options}), pool_pre_ping=True)
    except ImportError as exc:  # pragma: no cover - driver missing
        raise StoreError(f"no driver for {url.drivername} (pip install 'psycopg[binary]')") from exc


def _check_schema(engine: Engine, where: str) -> None:
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if not tables:
            raise StoreError(f"{where} holds no actsearch results yet")
        if "alembic_version" not in tables:
            raise StoreError(f"{where} is not an actsearch database (no actsearch schema version)")
        revisions = {r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version"))}
    unknown = revisions - set(schema.KNOWN_REVISIONS)
    if unknown or not tables >= schema.ACTSEARCH_TABLES:
        if tables >= schema.ACTSEARCH_TABLES:
            raise StoreError(
                f"{where} was created by a newer actsearch (schema revision "
                f"{', '.join(sorted(unknown))}); upgrade actsearch to open it"
            )
        raise StoreError(f"{where} is not an actsearch database")
    if revisions != {schema.HEAD}:
        raise StoreError(
            f"{where} has an older schema; run `actsearch runs --db ...` once to "
            "upgrade it (the dashboard never writes)"
        )


def _engine(store: Store) -> Engine:
    return store._engine  # the facade's engine: the dashboard reads through the same pool


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    """One line of the runs table."""

    id: int
    name: str
    status: str
    task: str
    space: str
    strategy: str
    trainings: int
    budget: int | None  # trainings the run planned (SearchSpace.trainings), if its config says
    proposals: int  # evolved candidates proposed so far (baselines not counted)
    planned: int | None  # proposals: population x generations
    best_fitness: float | None
    best_id: int | None
    best_expr: str | None
    baseline_best: float | None
    created_at: str
    finished_at: str | None


def budget_of(config: dict[str, Any], task_column: str = "") -> int | None:
    """Trainings a run planned (its space's `trainings`, from the one reader of stored
    configs, any version), None when its config lacks the numbers."""
    from actsearch.runconfig import stored_trainings

    return stored_trainings(config, task_column)


def planned_proposals(config: dict[str, Any]) -> int | None:
    """population x generations of a run's space, when it has both (else None)."""
    evolution = (config.get("space") or {}).get("evolution") or {}
    try:
        return int(evolution["population"]) * int(evolution["generations"])
    except (KeyError, TypeError, ValueError):
        return None


def run_rows(store: Store, run_id: int | None = None) -> list[RunRow]:
    """Every run (or one), oldest first, with trainings, best candidate and best baseline."""

    def one_run(query, column=Candidate.run_id):
        return query if run_id is None else query.where(column == run_id)

    with _engine(store).connect() as conn:
        runs = conn.execute(
            one_run(
                select(Run.id, Run.name, Run.status, Run.task, Run.space, Run.config, Run.created_at, Run.finished_at),
                Run.id,
            ).order_by(Run.created_at, Run.id)
        ).all()
        trainings = dict(
            conn.execute(
                one_run(
                    select(Candidate.run_id, func.count(Evaluation.id))
                    .join(Evaluation, Evaluation.candidate_id == Candidate.id)
                    .where(Evaluation.is_partial == false())
                    .group_by(Candidate.run_id)
                )
            ).all()
        )
        proposals = dict(
            conn.execute(
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
        best: dict[tuple[int, bool], tuple[float | None, int, str]] = {}
        for rid, is_baseline, fitness, cid, expr in conn.execute(
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
            best.setdefault((rid, bool(is_baseline)), (fitness, cid, expr))
    return [
        _run_row(
            r,
            json.loads(r.config),
            trainings.get(r.id, 0),
            proposals.get(r.id, 0),
            best.get((r.id, False)),
            best.get((r.id, True)),
        )
        for r in runs
    ]


def _run_row(
    run: Any, config: dict[str, Any], trainings: int, proposals: int, top: tuple | None, base: tuple | None
) -> RunRow:
    """`run`: anything with the runs table's columns; `top`/`base`: (fitness, id, expr) or None."""
    return RunRow(
        id=run.id,
        name=run.name,
        status=run.status,
        task=run.task,
        space=run.space,
        strategy=str(((config.get("space") or {}).get("evolution") or {}).get("strategy", "-")),
        trainings=trainings,
        budget=budget_of(config, run.task),
        proposals=proposals,
        planned=planned_proposals(config),
        best_fitness=top[0] if top else None,
        best_id=top[1] if top else None,
        best_expr=top[2] if top else None,
        baseline_best=base[0] if base else None,
        created_at=_stamp(run.created_at),
        finished_at=None if run.finished_at is None else _stamp(run.finished_at),
    )


def run_row_from_points(run: RunRecord, points: dict[str, list[Any]], proposals: int) -> RunRow:
    """The runs-table line of one run, from its points and proposal count (no further query)."""
    best: dict[bool, tuple[float, int, str]] = {}
    for cid, baseline, expr, fitness, status in zip(
        points["candidate"], points["baseline"], points["expr"], points["candidate_fitness"], points["candidate_status"]
    ):
        if status == "evaluated" and fitness is not None:
            key = bool(baseline)
            if key not in best or fitness > best[key][0] or fitness == best[key][0] and cid < best[key][1]:
                best[key] = (fitness, cid, expr)
    return _run_row(run, run.config, len(points["evaluation"]), proposals, best.get(False), best.get(True))


def _stamp(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


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
    with _engine(store).connect() as conn:
        rows = conn.execute(query).all()
    columns = list(zip(*rows)) if rows else [()] * len(POINT_COLUMNS)
    return {name: list(values) for name, values in zip(POINT_COLUMNS, columns)}


def best_so_far(points: dict[str, list[Any]]) -> list[list[Any]]:
    """Steps of the best evolved candidate fitness against trainings done, from all of
    a run's `points`: [trainings, fitness, candidate id, expr] at each improvement. A
    candidate counts from its last stored training (its fitness is the mean over seeds)."""
    candidates = points["candidate"]
    last = {cid: done for done, cid in enumerate(candidates, start=1)}
    steps: list[list[Any]] = []
    for done, (cid, baseline, fitness, status) in enumerate(
        zip(candidates, points["baseline"], points["candidate_fitness"], points["candidate_status"]), start=1
    ):
        if last[cid] != done or baseline or status != "evaluated" or fitness is None:
            continue
        if not steps or fitness > steps[-1][1]:
            steps.append([done, fitness, cid, points["expr"][done - 1]])
    return steps


def rejection_reasons(store: Store, run_id: int) -> dict[str, int]:
    """How many evolved proposals were rejected for each reason."""
    with _engine(store).connect() as conn:
        rows = conn.execute(
            select(Candidate.reason, func.count())
            .where(Candidate.run_id == run_id, Candidate.status == "rejected", Candidate.is_baseline == false())
            .group_by(Candidate.reason)
            .order_by(func.count().desc())
        )
        return {(reason or "unknown"): n for reason, n in rows}


def baselines(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The run's baselines with their fitness (None until trained)."""
    with _engine(store).connect() as conn:
        rows = conn.execute(
            select(Candidate.id, Candidate.expr, Candidate.fitness)
            .where(Candidate.run_id == run_id, Candidate.is_baseline.is_(True))
            .order_by(Candidate.id)
        )
        return [{"id": i, "expr": e, "fitness": f} for i, e, f in rows]


# --------------------------------------------------------------------------- validations

#: (task, budget) -> expr -> test fitness of each stored seed, in seed order.
ValidationGroups = dict[tuple[str, int], dict[str, list[float]]]


def validation_fitnesses(store: Store, expr: str, run_id: int) -> tuple[ValidationGroups, list[str]]:
    """`actsearch validate`'s stored test fitnesses of `expr` and of its run's baselines,
    grouped by (task, budget) where `expr` has any; and the baselines' exprs (in run order)."""
    with _engine(store).connect() as conn:
        bases = conn.execute(
            select(Candidate.expr)
            .where(Candidate.run_id == run_id, Candidate.is_baseline.is_(True), Candidate.expr != expr)
            .order_by(Candidate.id)
        )
        baseline_exprs = list(dict.fromkeys(e for (e,) in bases))
        rows = conn.execute(
            select(Validation.task, Validation.budget, Validation.expr, Validation.fitness)
            .where(
                Validation.expr.in_([expr, *baseline_exprs]),
                Validation.status == "ok",
                Validation.fitness.is_not(None),
            )
            .order_by(Validation.task, Validation.budget, Validation.seed)
        ).all()
    groups: ValidationGroups = {}
    for task, budget, e, fitness in rows:
        if fitness is not None:  # the query excludes NULL; this tells the type checker
            groups.setdefault((task, budget), {}).setdefault(e, []).append(fitness)
    return {key: by_expr for key, by_expr in groups.items() if expr in by_expr}, baseline_exprs
