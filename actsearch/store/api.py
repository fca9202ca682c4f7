"""`Store`: the one interface to the results database (SQLite or PostgreSQL).

Every write method commits at once in its own short transaction. A search
writes through `Store.batch()` instead (`batch.py`): its writes are buffered
and committed together, one transaction per batch. Writes that meet lock
contention (SQLite `database is locked`, PostgreSQL serialization failures)
or a lost server connection (a PostgreSQL restart) are retried with backoff.
Reads and writes return frozen records, never ORM rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, case, false, func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from actsearch.results import SCORED, EvalResult
from actsearch.store import convert, schema
from actsearch.store.models import Candidate, CandidateParent, Evaluation, Run, utcnow
from actsearch.store.records import (
    CANDIDATE_STATUSES,
    EVALUATION_STATUSES,
    RUN_STATUSES,
    CandidateRecord,
    EvaluationRecord,
    LeaderRow,
    NotFoundError,
    RunRecord,
    RunSummary,
    StoreError,
)

if TYPE_CHECKING:
    from actsearch.store.batch import WriteBatch

M = TypeVar("M", Run, Candidate)

#: what a candidate's `origin` may be (the batch writer checks it too)
ORIGIN_PATTERN = re.compile(r"^(init|crossover|baseline|user|(crossover\+)?mutation:[A-Za-z0-9_.\-]+)$")
_TERMINAL_RUN = ("finished", "interrupted", "failed")
_UNRANKED = ("duplicate", "rejected", "failed")
_CHUNK = 500
# Best fitness first; ties: simpler (unknown complexity last), then older.
_RANK_ORDER = (
    Candidate.fitness.desc(),
    case((Candidate.complexity.is_(None), 1), else_=0),
    Candidate.complexity.asc(),
    Candidate.id.asc(),
)
RETRY_SECONDS = 120.0


# --------------------------------------------------------------------------- helpers


def _check(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _package_version() -> str:
    from actsearch import __version__

    return __version__


# --------------------------------------------------------------------------- the store


class Store:
    """The results store. Create it with `Store.open(...)`; close it when done."""

    retry_seconds: float = RETRY_SECONDS

    def __init__(self, engine: Engine, url: URL, *, read_only: bool = False) -> None:
        self._engine = engine
        self._writer = schema.write_engine(engine)
        self._url = url
        self._read_only = read_only
        self.where = schema.display_url(url)
        self._batches: list[WriteBatch] = []

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, url_or_path: str | Path | None = None, *, create: bool = True, read_only: bool = False) -> Store:
        """Open (and create or migrate if needed) a results database.

        `url_or_path`: a filesystem path (SQLite; parent directories are
        created), any SQLAlchemy URL (`sqlite:///...`, `postgresql://...`
        which uses psycopg 3) or None for `runs/actsearch.db`. With
        `create=False` a missing or empty database raises StoreError instead
        of being created. Raises StoreError (one-line message) for a database
        that is not an actsearch one or comes from a newer actsearch.

        `read_only=True` is for readers beside a running search (dashboard,
        reports): the database is opened so that it cannot be written (SQLite
        `mode=ro`, which never blocks the search's writes), nothing is created
        or migrated (`create` is ignored; an older schema is refused), and
        every write method raises StoreError.
        """
        if read_only:
            engine, url = schema.open_readonly_engine(url_or_path)
        else:
            engine, url = schema.open_engine(url_or_path, create=create)
        return cls(engine, url, read_only=read_only)

    @property
    def read_only(self) -> bool:
        """True when opened with `read_only=True`: every write raises StoreError."""
        return self._read_only

    @property
    def url(self) -> str:
        """The database URL with the password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        if self.backend == "sqlite" and not schema.is_memory(self._url) and self._url.database:
            return Path(self._url.database)
        return None

    def close(self) -> None:
        for batch in list(self._batches):
            batch.close()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.where!r})"

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """One short write transaction, committed on leaving the block (rolled back
        on an exception). It takes the write lock up front (SQLite `BEGIN
        IMMEDIATE`). For modules of `actsearch.store` that add their own tables;
        decorate the calling method with `schema.retrying` to ride out lock
        contention. StoreError at once on a read-only store."""
        if self._read_only:
            raise StoreError(f"cannot write to {self.where}: this store was opened read-only")
        if any(batch.holds_lock for batch in self._batches):  # it would wait for itself
            raise StoreError(f"cannot write to {self.where} while a batch of this store holds the write lock")
        with Session(self._writer, expire_on_commit=False) as s, s.begin():
            yield s

    def batch(self) -> WriteBatch:
        """Buffered writes committed together, one transaction per `flush()` (what the
        search loop writes through; see `actsearch.store.batch`). Close it when done."""
        from actsearch.store.batch import WriteBatch

        if self._read_only:
            raise StoreError(f"cannot write to {self.where}: this store was opened read-only")
        batch = WriteBatch(self)
        self._batches.append(batch)
        return batch

    def _batch_closed(self, batch: WriteBatch) -> None:
        if batch in self._batches:
            self._batches.remove(batch)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only (its transaction is rolled back on leaving), so
        that several queries see one snapshot. For `actsearch.store.queries` and
        the store's own modules; ORM rows read here must not leave the store."""
        with Session(self._engine) as s:
            yield s

    def _get_or_raise(self, s: Session, model: type[M], row_id: int) -> M:
        """The row with this id, or NotFoundError naming the table."""
        row = s.get(model, row_id)
        if row is None:
            raise NotFoundError(f"no {model.__name__.lower()} with id {row_id} in {self.where}")
        return row

    # ----------------------------------------------------------------- runs

    @schema.retrying
    def create_run(
        self, name: str, *, task: str, space: str, seed: int, config: Mapping[str, Any], notes: str | None = None
    ) -> RunRecord:
        """Record a new run (status 'running'). StoreError if the name is taken."""
        config_text = convert.config_json(config)
        now = utcnow()
        with self.write_session() as s:
            if s.scalar(select(Run.id).where(Run.name == name)) is not None:
                raise StoreError(
                    f"a run named {name!r} already exists in {self.where}; choose another name or resume it"
                )
            row = Run(
                name=name,
                status="running",
                task=task,
                space=str(space),
                seed=int(seed),
                config=config_text,
                created_at=now,
                updated_at=now,
                finished_at=None,
                actsearch_version=_package_version(),
                notes=notes,
            )
            s.add(row)
            s.flush()
            return convert.run_record(row)

    @schema.retrying
    def find_run(self, name: str) -> RunRecord | None:
        """The run with this name, or None."""
        with self.read_session() as s:
            row = s.scalar(select(Run).where(Run.name == name))
            return None if row is None else convert.run_record(row)

    @schema.retrying
    def run(self, run_id: int) -> RunRecord:
        """The run with this id (NotFoundError if none)."""
        with self.read_session() as s:
            return convert.run_record(self._get_or_raise(s, Run, run_id))

    @schema.retrying
    def set_run_status(self, run_id: int, status: str) -> RunRecord:
        """Set a run's status; terminal statuses set finished_at, 'running' clears it."""
        _check(status, RUN_STATUSES, "run status")
        now = utcnow()
        with self.write_session() as s:
            row = self._get_or_raise(s, Run, run_id)
            row.status = status
            row.updated_at = now
            row.finished_at = now if status in _TERMINAL_RUN else None
            return convert.run_record(row)

    @schema.retrying
    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with counts and its best candidate."""
        with self.read_session() as s:
            runs = s.scalars(select(Run).order_by(Run.created_at, Run.id)).all()
            n_cand = dict(s.execute(select(Candidate.run_id, func.count()).group_by(Candidate.run_id)).all())
            n_eval = dict(
                s.execute(
                    select(Candidate.run_id, func.count(Evaluation.id))
                    .join(Evaluation, Evaluation.candidate_id == Candidate.id)
                    .where(Evaluation.is_partial == false())
                    .group_by(Candidate.run_id)
                ).all()
            )
            rn = func.row_number().over(partition_by=Candidate.run_id, order_by=_RANK_ORDER).label("rn")
            ranked = (
                select(Candidate.run_id, Candidate.fitness, Candidate.expr, rn)
                .where(Candidate.fitness.is_not(None), Candidate.status.not_in(_UNRANKED))
                .subquery()
            )
            best = {r.run_id: (r.fitness, r.expr) for r in s.execute(select(ranked).where(ranked.c.rn == 1))}
            return [
                convert.to_record(
                    RunSummary,
                    r,
                    candidates=n_cand.get(r.id, 0),
                    evaluations=n_eval.get(r.id, 0),
                    best_fitness=best.get(r.id, (None, None))[0],
                    best_expr=best.get(r.id, (None, None))[1],
                )
                for r in runs
            ]

    # ----------------------------------------------------------------- candidates

    @schema.retrying
    def add_candidate(
        self,
        run_id: int,
        *,
        expr: str,
        fingerprint: str,
        complexity: int | None,
        generation: int,
        parents: Iterable[int] = (),
        origin: str,
        is_baseline: bool = False,
        status: str,
        reason: str | None = None,
        equivalent_to: int | None = None,
        genotype: str | None = None,
        ask_seq: int | None = None,
        predicted: float | None = None,
    ) -> CandidateRecord:
        """Record a proposed candidate (any status, e.g. 'rejected' with its reason).

        `genotype` is the tree as evolved and `ask_seq` its place in the run's
        ask/tell sequence: what `--resume` replays.

        `parents` are candidate ids (order kept); `origin` is init, crossover,
        mutation:NAME, baseline or user; a 'duplicate' should point with
        `equivalent_to` at the first candidate with its fingerprint.
        """
        _check(status, CANDIDATE_STATUSES, "candidate status")
        if not ORIGIN_PATTERN.match(origin):
            raise ValueError(f"unknown origin {origin!r}; expected init, crossover, mutation:NAME, baseline or user")
        parent_ids = tuple(int(p) for p in parents)
        now = utcnow()
        with self.write_session() as s:
            self._get_or_raise(s, Run, run_id)
            row = Candidate(
                run_id=run_id,
                expr=expr,
                fingerprint=fingerprint,
                complexity=None if complexity is None else int(complexity),
                generation=int(generation),
                origin=origin,
                is_baseline=bool(is_baseline),
                status=status,
                reason=reason,
                equivalent_to=equivalent_to,
                fitness=None,
                fitness_std=None,
                genotype=genotype,
                ask_seq=ask_seq,
                tell_seq=None,
                predicted=convert.num(predicted),
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            s.add_all(CandidateParent(child_id=row.id, position=i, parent_id=p) for i, p in enumerate(parent_ids))
            s.flush()
            return convert.to_record(CandidateRecord, row, parents=parent_ids)

    @schema.retrying
    def finish_candidate(
        self,
        candidate_id: int,
        *,
        fitness: float | None,
        fitness_std: float | None = None,
        status: str | None = None,
        reason: str | None = None,
        tell_seq: int | None = None,
        learned: str | None = None,
    ) -> CandidateRecord:
        """Record a candidate's outcome in one write: its fitness, and optionally its
        final status and reason, when the strategy was told (`tell_seq`, which
        `--resume` replays) and its tree with learned constants (`learned`, Lamarckian)."""
        if status is not None:
            _check(status, CANDIDATE_STATUSES, "candidate status")
        with self.write_session() as s:
            row = self._get_or_raise(s, Candidate, candidate_id)
            row.fitness, row.fitness_std = convert.num(fitness), convert.num(fitness_std)
            if status is not None:
                row.status, row.reason = status, reason
            if tell_seq is not None:
                row.tell_seq = int(tell_seq)
            if learned is not None:
                row.learned = learned
            row.updated_at = utcnow()
            s.flush()
            return self._records(s, [row])[0]

    def _records(
        self, s: Session, rows: list[Candidate], of: ColumnElement[bool] | None = None
    ) -> list[CandidateRecord]:
        """Candidate records with their parents (those of the child ids in `rows`, or matching `of`)."""
        links = select(CandidateParent.child_id, CandidateParent.parent_id).order_by(
            CandidateParent.child_id, CandidateParent.position
        )
        parents: dict[int, list[int]] = {}
        if of is not None:
            batches = [links.join(Candidate, Candidate.id == CandidateParent.child_id).where(of)]
        else:
            ids = [r.id for r in rows]
            batches = [
                links.where(CandidateParent.child_id.in_(ids[i : i + _CHUNK])) for i in range(0, len(ids), _CHUNK)
            ]
        for batch in batches:
            for child, parent in s.execute(batch):
                parents.setdefault(child, []).append(parent)
        return [convert.to_record(CandidateRecord, r, parents=tuple(parents.get(r.id, ()))) for r in rows]

    @schema.retrying
    def candidate(self, candidate_id: int) -> CandidateRecord:
        """One candidate (NotFoundError if none)."""
        with self.read_session() as s:
            return self._records(s, [self._get_or_raise(s, Candidate, candidate_id)])[0]

    @schema.retrying
    def candidates(self, run_id: int, statuses: Iterable[str] | str | None = None) -> list[CandidateRecord]:
        """The candidates of a run in creation order, optionally only some statuses."""
        with self.read_session() as s:
            q = select(Candidate).where(Candidate.run_id == run_id).order_by(Candidate.id)
            if statuses is not None:
                wanted = (statuses,) if isinstance(statuses, str) else tuple(statuses)
                for st in wanted:
                    _check(st, CANDIDATE_STATUSES, "candidate status")
                q = q.where(Candidate.status.in_(wanted))
            return self._records(s, list(s.scalars(q)), of=Candidate.run_id == run_id)

    @schema.retrying
    def lineage(self, candidate_id: int) -> list[CandidateRecord]:
        """All ancestors of a candidate, nearest first (parents, grandparents, ...)."""
        with self.read_session() as s:
            self._get_or_raise(s, Candidate, candidate_id)
            seen, order, frontier = {candidate_id}, [], [candidate_id]
            while frontier:
                parents = self._records(s, [self._get_or_raise(s, Candidate, c) for c in frontier])
                frontier = []
                for child in parents:
                    for p in child.parents:
                        if p not in seen:
                            seen.add(p)
                            frontier.append(p)
                order.extend(frontier)
            return self._records(s, [self._get_or_raise(s, Candidate, i) for i in order])

    @schema.retrying
    def counts(self, run_id: int, *, baselines: bool = True) -> dict[str, int]:
        """Number of candidates of a run by status (every status present, zeros included);
        `baselines=False` counts only the evolved proposals."""
        with self.read_session() as s:
            out = dict.fromkeys(CANDIDATE_STATUSES, 0)
            query = select(Candidate.status, func.count()).where(Candidate.run_id == run_id)
            if not baselines:
                query = query.where(Candidate.is_baseline == false())
            out.update({status: n for status, n in s.execute(query.group_by(Candidate.status))})
            return out

    # ----------------------------------------------------------------- evaluations

    @schema.retrying
    def add_evaluation(
        self, candidate_id: int, *, task: str, seed: int, planned_epochs: int, result: EvalResult
    ) -> list[EvaluationRecord]:
        """Store one training: the final row first, then one row per partial reading.

        `planned_epochs`: the epochs the training was planned for (the final
        row's `epochs` are those it ran). Partial rows have
        is_partial true, planned_epochs = epochs = the reading's epoch,
        status 'ok', train_seconds/steps NULL and partial_of = final row id.
        """
        _check(result.status, EVALUATION_STATUSES, "evaluation status")
        now = utcnow()
        with self.write_session() as s:
            self._get_or_raise(s, Candidate, candidate_id)
            final = convert.evaluation_row(candidate_id, task, seed, result, now)
            final.planned_epochs = int(planned_epochs)
            s.add(final)
            s.flush()
            partials = []
            for p in result.partials:
                row = convert.evaluation_row(candidate_id, task, seed, result, now)
                row.planned_epochs = row.epochs = int(p.epochs)
                row.status, row.is_partial, row.partial_of = "ok", True, final.id
                row.fitness, row.val_accuracy = convert.num(p.fitness), convert.num(p.val_accuracy)
                row.val_loss = convert.num(p.val_loss)
                row.train_seconds = row.steps = row.error = row.learned = None
                partials.append(row)
            s.add_all(partials)
            s.flush()
            return [convert.to_record(EvaluationRecord, r) for r in [final, *partials]]

    @schema.retrying
    def evaluations(self, candidate_id: int, *, partials: bool = True) -> list[EvaluationRecord]:
        """A candidate's evaluations in insertion order (partial readings included by default)."""
        return self._evaluations(Evaluation.candidate_id == candidate_id, partials)

    @schema.retrying
    def run_evaluations(self, run_id: int, *, partials: bool = False) -> list[EvaluationRecord]:
        """All evaluations of a run's candidates (final ones only by default)."""
        return self._evaluations(Candidate.run_id == run_id, partials)

    @schema.retrying
    def task_means(self, run_id: int) -> dict[int, dict[str, tuple[float | None, int]]]:
        """Per candidate of a run and per task: the mean fitness of its final trainings that
        scored and their number (the raw fitness behind a fitness across tasks)."""
        scored = Evaluation.status.in_(SCORED)
        q = (
            select(
                Evaluation.candidate_id,
                Evaluation.task,
                func.avg(case((scored, Evaluation.fitness))),
                func.count(case((scored, Evaluation.fitness))),
            )
            .join(Candidate, Candidate.id == Evaluation.candidate_id)
            .where(Candidate.run_id == run_id, Evaluation.is_partial == false())
            .group_by(Evaluation.candidate_id, Evaluation.task)
        )
        out: dict[int, dict[str, tuple[float | None, int]]] = {}
        with self.read_session() as s:
            for candidate_id, task, mean, n in s.execute(q):
                out.setdefault(candidate_id, {})[task] = (None if mean is None else float(mean), int(n))
        return out

    def _evaluations(self, where: ColumnElement[bool], partials: bool) -> list[EvaluationRecord]:
        q = select(Evaluation).join(Candidate, Candidate.id == Evaluation.candidate_id).where(where)
        if not partials:
            q = q.where(Evaluation.is_partial == false())
        with self.read_session() as s:
            return [convert.to_record(EvaluationRecord, r) for r in s.scalars(q.order_by(Evaluation.id))]

    # ----------------------------------------------------------------- leaderboard

    @schema.retrying
    def leaderboard(self, run: str | None = None, task: str | None = None, k: int | None = 10) -> list[LeaderRow]:
        """The k best candidates by fitness, of one run (by name) or across runs.

        Only candidates with a fitness count; duplicates, rejected and failed
        ones are left out; baselines are included and marked. `task` keeps
        runs on that task. k=None returns all.
        """
        n_eval = (
            select(func.count(Evaluation.id))
            .where(Evaluation.candidate_id == Candidate.id, Evaluation.is_partial == false())
            .correlate(Candidate)
            .scalar_subquery()
        )
        q = (
            select(Candidate, Run.name, Run.task, n_eval)
            .join(Run, Run.id == Candidate.run_id)
            .where(Candidate.fitness.is_not(None), Candidate.status.not_in(_UNRANKED))
            .order_by(*_RANK_ORDER)
        )
        if run is not None:
            q = q.where(Run.name == run)
        if task is not None:
            q = q.where(Run.task == task)
        if k is not None:
            q = q.limit(max(int(k), 0))
        with self.read_session() as s:
            return [
                convert.to_record(LeaderRow, c, rank=i, candidate_id=c.id, run=run_name, task=run_task, evaluations=n)
                for i, (c, run_name, run_task, n) in enumerate(s.execute(q), start=1)
            ]
