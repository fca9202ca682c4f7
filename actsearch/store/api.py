"""`Store`: the one interface to the results database (SQLite or PostgreSQL).

Every write commits at once in its own short transaction, so a killed search
loses nothing that finished. Writes that meet lock contention (SQLite
`database is locked`, PostgreSQL serialization failures) are retried with
backoff. Reads and writes return frozen records, never ORM rows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path, PurePath
from typing import Any, TypeVar

from sqlalchemy import case, false, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from actsearch.results import EvalResult, one_line
from actsearch.store import schema
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

T = TypeVar("T")

_ORIGIN = re.compile(r"^(init|crossover|baseline|user|(crossover\+)?mutation:[A-Za-z0-9_.\-]+)$")
_TERMINAL_RUN = ("finished", "interrupted", "failed")
_PENDING_OR_DONE = ("queued", "running", "evaluated")
_UNRANKED = ("duplicate", "rejected", "failed")
_CHUNK = 500
RETRY_SECONDS = 120.0


# --------------------------------------------------------------------------- helpers


def _is_contention(exc: DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in ("40001", "40P01"):  # serialization / deadlock
        return True
    msg = str(orig).lower()
    return "database is locked" in msg or "database is busy" in msg or "database table is locked" in msg


def _retrying(fn: Callable[..., T]) -> Callable[..., T]:
    """Retry a whole transaction on lock contention; turn DB errors into StoreError."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        while True:
            try:
                return fn(self, *args, **kwargs)
            except IntegrityError as exc:
                raise StoreError(
                    f"{fn.__name__}: rejected by the database: {one_line(exc, with_type=False)}"
                ) from exc
            except DBAPIError as exc:
                if not _is_contention(exc):
                    raise StoreError(f"{fn.__name__} on {self.where}: {one_line(exc, with_type=False)}") from exc
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{fn.__name__}: {self.where} stayed locked for "
                        f"{self.retry_seconds:.0f} s: {one_line(exc, with_type=False)}"
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

    return wrapper


def _aware(value: datetime | None) -> datetime | None:
    # SQLite keeps no time zone: everything is stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _num(value: float | None) -> float | None:
    """NaN -> None (SQLite cannot store NaN; keep both backends alike)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    dump = getattr(obj, "model_dump", None)  # pydantic v2
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"config value of type {type(obj).__name__} is not JSON serialisable")


def _check(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _run_record(row: Run) -> RunRecord:
    return RunRecord(
        id=row.id,
        name=row.name,
        status=row.status,
        task=row.task,
        space=row.space,
        seed=row.seed,
        config=json.loads(row.config),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        finished_at=_aware(row.finished_at),
        actsearch_version=row.actsearch_version,
        notes=row.notes,
    )


def _candidate_record(row: Candidate, parents: tuple[int, ...]) -> CandidateRecord:
    return CandidateRecord(
        id=row.id,
        run_id=row.run_id,
        expr=row.expr,
        fingerprint=row.fingerprint,
        complexity=row.complexity,
        generation=row.generation,
        parents=parents,
        origin=row.origin,
        is_baseline=bool(row.is_baseline),
        status=row.status,
        reason=row.reason,
        equivalent_to=row.equivalent_to,
        fitness=row.fitness,
        fitness_std=row.fitness_std,
        genotype=row.genotype,
        ask_seq=row.ask_seq,
        tell_seq=row.tell_seq,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _evaluation_record(row: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        candidate_id=row.candidate_id,
        task=row.task,
        seed=row.seed,
        budget=row.budget,
        status=row.status,
        is_partial=bool(row.is_partial),
        partial_of=row.partial_of,
        fitness=row.fitness,
        val_accuracy=row.val_accuracy,
        val_loss=row.val_loss,
        train_seconds=row.train_seconds,
        epochs=row.epochs,
        steps=row.steps,
        batch_size=row.batch_size,
        worker=row.worker,
        error=row.error,
        created_at=_aware(row.created_at),
    )


def _package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("actsearch")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    import sys

    return str(getattr(sys.modules.get("actsearch"), "__version__", "unknown"))


# --------------------------------------------------------------------------- the store


class Store:
    """The results store. Create it with `Store.open(...)`; close it when done."""

    retry_seconds: float = RETRY_SECONDS

    def __init__(self, engine: Any, url: Any) -> None:
        self._engine = engine
        self._writer = schema.write_engine(engine)
        self._url = url
        self.where = schema.display_url(url)
        self._version: str | None = None

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, url_or_path: str | Path | None = None, *, create: bool = True) -> Store:
        """Open (and create or migrate if needed) a results database.

        `url_or_path`: a filesystem path (SQLite; parent directories are
        created), any SQLAlchemy URL (`sqlite:///...`, `postgresql://...`
        which uses psycopg 3) or None for `runs/actsearch.db`. With
        `create=False` a missing or empty database raises StoreError instead
        of being created. Raises StoreError (one-line message) for a database
        that is not an actsearch one or comes from a newer actsearch.
        """
        engine, url = schema.open_engine(url_or_path, create=create)
        return cls(engine, url)

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
        if self.backend == "sqlite" and not schema.is_memory(self._url):
            return Path(self._url.database)
        return None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.where!r})"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine) as s:
            yield s

    # ----------------------------------------------------------------- runs

    @_retrying
    def create_run(
        self,
        name: str,
        *,
        task: str,
        space: str,
        seed: int,
        config: Mapping[str, Any],
        notes: str | None = None,
    ) -> RunRecord:
        """Record a new run (status 'running'). StoreError if the name is taken."""
        config_text = json.dumps(dict(config), sort_keys=True, default=_json_default)
        version = self._version = self._version or _package_version()
        now = utcnow()
        with self._write() as s:
            if s.scalar(select(Run.id).where(Run.name == name)) is not None:
                raise StoreError(
                    f"a run named {name!r} already exists in {self.where}; "
                    "choose another name or resume it"
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
                actsearch_version=version,
                notes=notes,
            )
            s.add(row)
            s.flush()
            return _run_record(row)

    @_retrying
    def find_run(self, name: str) -> RunRecord | None:
        """The run with this name, or None."""
        with self._read() as s:
            row = s.scalar(select(Run).where(Run.name == name))
            return None if row is None else _run_record(row)

    @_retrying
    def run(self, run_id: int) -> RunRecord:
        """The run with this id (NotFoundError if none)."""
        with self._read() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(f"no run with id {run_id} in {self.where}")
            return _run_record(row)

    @_retrying
    def set_run_status(self, run_id: int, status: str) -> RunRecord:
        """Set a run's status; terminal statuses set finished_at, 'running' clears it."""
        _check(status, RUN_STATUSES, "run status")
        now = utcnow()
        with self._write() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(f"no run with id {run_id} in {self.where}")
            row.status = status
            row.updated_at = now
            row.finished_at = now if status in _TERMINAL_RUN else None
            return _run_record(row)

    @_retrying
    def set_run_notes(self, run_id: int, notes: str | None) -> RunRecord:
        with self._write() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(f"no run with id {run_id} in {self.where}")
            row.notes = notes
            row.updated_at = utcnow()
            return _run_record(row)

    @_retrying
    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with counts and its best candidate."""
        with self._read() as s:
            runs = s.scalars(select(Run).order_by(Run.created_at, Run.id)).all()
            n_cand = dict(
                s.execute(select(Candidate.run_id, func.count()).group_by(Candidate.run_id)).all()
            )
            n_eval = dict(
                s.execute(
                    select(Candidate.run_id, func.count(Evaluation.id))
                    .join(Evaluation, Evaluation.candidate_id == Candidate.id)
                    .where(Evaluation.is_partial == false())
                    .group_by(Candidate.run_id)
                ).all()
            )
            rn = (
                func.row_number()
                .over(partition_by=Candidate.run_id, order_by=self._rank_order())
                .label("rn")
            )
            ranked = (
                select(Candidate.run_id, Candidate.fitness, Candidate.expr, rn)
                .where(Candidate.fitness.is_not(None), Candidate.status.not_in(_UNRANKED))
                .subquery()
            )
            best = {
                r.run_id: (r.fitness, r.expr)
                for r in s.execute(select(ranked).where(ranked.c.rn == 1))
            }
            return [
                RunSummary(
                    id=r.id,
                    name=r.name,
                    status=r.status,
                    task=r.task,
                    created_at=_aware(r.created_at),
                    finished_at=_aware(r.finished_at),
                    candidates=n_cand.get(r.id, 0),
                    evaluations=n_eval.get(r.id, 0),
                    best_fitness=best.get(r.id, (None, None))[0],
                    best_expr=best.get(r.id, (None, None))[1],
                )
                for r in runs
            ]

    # ----------------------------------------------------------------- candidates

    @_retrying
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
    ) -> CandidateRecord:
        """Record a proposed candidate (any status, e.g. 'rejected' with its reason).

        `genotype` is the tree as evolved and `ask_seq` its place in the run's
        ask/tell sequence: what `--resume` replays.

        `parents` are candidate ids (order kept); `origin` is init, crossover,
        mutation:NAME, baseline or user; a 'duplicate' should point with
        `equivalent_to` at the first candidate with its fingerprint.
        """
        _check(status, CANDIDATE_STATUSES, "candidate status")
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"unknown origin {origin!r}; expected init, crossover, mutation:NAME, baseline or user"
            )
        parents = tuple(int(p) for p in parents)
        now = utcnow()
        with self._write() as s:
            if s.get(Run, run_id) is None:
                raise NotFoundError(f"no run with id {run_id} in {self.where}")
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
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            s.add_all(
                CandidateParent(child_id=row.id, position=i, parent_id=p)
                for i, p in enumerate(parents)
            )
            s.flush()
            return _candidate_record(row, parents)

    def _update_candidate(self, candidate_id: int, **values: Any) -> CandidateRecord:
        with self._write() as s:
            row = s.get(Candidate, candidate_id)
            if row is None:
                raise NotFoundError(f"no candidate with id {candidate_id} in {self.where}")
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            s.flush()
            return _candidate_record(row, self._parents(s, [candidate_id]).get(candidate_id, ()))

    @_retrying
    def set_candidate_status(
        self, candidate_id: int, status: str, reason: str | None = None
    ) -> CandidateRecord:
        """Set the status and reason (the reason is replaced, None clears it)."""
        _check(status, CANDIDATE_STATUSES, "candidate status")
        return self._update_candidate(candidate_id, status=status, reason=reason)

    @_retrying
    def set_candidate_fitness(
        self, candidate_id: int, fitness: float | None, fitness_std: float | None = None
    ) -> CandidateRecord:
        """Set the aggregated fitness used for selection (and its spread across seeds)."""
        return self._update_candidate(candidate_id, fitness=_num(fitness), fitness_std=_num(fitness_std))

    @_retrying
    def finish_candidate(
        self,
        candidate_id: int,
        *,
        fitness: float | None,
        fitness_std: float | None = None,
        status: str | None = None,
        reason: str | None = None,
        tell_seq: int | None = None,
    ) -> CandidateRecord:
        """Record a candidate's outcome in one write: its fitness, and optionally its
        final status and reason and when the strategy was told (`tell_seq`, which
        `--resume` replays)."""
        values: dict[str, Any] = {"fitness": _num(fitness), "fitness_std": _num(fitness_std)}
        if status is not None:
            _check(status, CANDIDATE_STATUSES, "candidate status")
            values.update(status=status, reason=reason)
        if tell_seq is not None:
            values["tell_seq"] = int(tell_seq)
        return self._update_candidate(candidate_id, **values)

    @staticmethod
    def _parents(s: Session, ids: list[int]) -> dict[int, tuple[int, ...]]:
        out: dict[int, list[int]] = {}
        for i in range(0, len(ids), _CHUNK):
            rows = s.execute(
                select(CandidateParent.child_id, CandidateParent.parent_id)
                .where(CandidateParent.child_id.in_(ids[i : i + _CHUNK]))
                .order_by(CandidateParent.child_id, CandidateParent.position)
            )
            for child, parent in rows:
                out.setdefault(child, []).append(parent)
        return {k: tuple(v) for k, v in out.items()}

    def _records(self, s: Session, rows: list[Candidate]) -> list[CandidateRecord]:
        parents = self._parents(s, [r.id for r in rows])
        return [_candidate_record(r, parents.get(r.id, ())) for r in rows]

    @_retrying
    def candidate(self, candidate_id: int) -> CandidateRecord:
        """One candidate (NotFoundError if none)."""
        with self._read() as s:
            row = s.get(Candidate, candidate_id)
            if row is None:
                raise NotFoundError(f"no candidate with id {candidate_id} in {self.where}")
            return self._records(s, [row])[0]

    @_retrying
    def candidates(
        self, run_id: int, statuses: Iterable[str] | str | None = None
    ) -> list[CandidateRecord]:
        """The candidates of a run in creation order, optionally only some statuses."""
        with self._read() as s:
            q = select(Candidate).where(Candidate.run_id == run_id).order_by(Candidate.id)
            if statuses is not None:
                wanted = (statuses,) if isinstance(statuses, str) else tuple(statuses)
                for st in wanted:
                    _check(st, CANDIDATE_STATUSES, "candidate status")
                q = q.where(Candidate.status.in_(wanted))
            rows = list(s.scalars(q))
            parents: dict[int, list[int]] = {}
            links = s.execute(
                select(CandidateParent.child_id, CandidateParent.parent_id)
                .join(Candidate, Candidate.id == CandidateParent.child_id)
                .where(Candidate.run_id == run_id)
                .order_by(CandidateParent.child_id, CandidateParent.position)
            )
            for child, parent in links:
                parents.setdefault(child, []).append(parent)
            return [_candidate_record(r, tuple(parents.get(r.id, ()))) for r in rows]

    @_retrying
    def lineage(self, candidate_id: int) -> list[CandidateRecord]:
        """All ancestors of a candidate, nearest first (parents, grandparents, ...)."""
        with self._read() as s:
            if s.get(Candidate, candidate_id) is None:
                raise NotFoundError(f"no candidate with id {candidate_id} in {self.where}")
            seen = {candidate_id}
            order: list[int] = []
            frontier = [candidate_id]
            while frontier:
                links = self._parents(s, frontier)
                nxt = []
                for child in frontier:
                    for p in links.get(child, ()):
                        if p not in seen:
                            seen.add(p)
                            nxt.append(p)
                order.extend(nxt)
                frontier = nxt
            rows = {
                r.id: r
                for i in range(0, len(order), _CHUNK)
                for r in s.scalars(select(Candidate).where(Candidate.id.in_(order[i : i + _CHUNK])))
            }
            return self._records(s, [rows[i] for i in order if i in rows])

    @_retrying
    def find_by_fingerprint(
        self,
        run_id: int,
        fingerprint: str,
        task: str | None = None,
        budget: int | None = None,
    ) -> CandidateRecord | None:
        """The first candidate of the run with this fingerprint that needs no new training.

        Without task/budget: the earliest candidate that is queued, running or
        evaluated. With task and/or budget: the earliest candidate having a
        final evaluation with that task/budget whose status is ok or stopped.
        """
        with self._read() as s:
            q = (
                select(Candidate)
                .where(Candidate.run_id == run_id, Candidate.fingerprint == fingerprint)
                .order_by(Candidate.id)
                .limit(1)
            )
            if task is None and budget is None:
                q = q.where(Candidate.status.in_(_PENDING_OR_DONE))
            else:
                ev = select(Evaluation.id).where(
                    Evaluation.candidate_id == Candidate.id,
                    Evaluation.is_partial == false(),
                    Evaluation.status.in_(("ok", "stopped")),
                )
                if task is not None:
                    ev = ev.where(Evaluation.task == task)
                if budget is not None:
                    ev = ev.where(Evaluation.budget == int(budget))
                q = q.where(ev.exists())
            row = s.scalar(q)
            return None if row is None else self._records(s, [row])[0]

    @_retrying
    def evaluated_fingerprints(self, run_id: int) -> dict[str, int]:
        """fingerprint -> id of the first evaluated candidate with it, for a run."""
        with self._read() as s:
            rows = s.execute(
                select(Candidate.fingerprint, func.min(Candidate.id))
                .where(Candidate.run_id == run_id, Candidate.status == "evaluated")
                .group_by(Candidate.fingerprint)
            )
            return {fp: cid for fp, cid in rows}

    @_retrying
    def counts(self, run_id: int, *, baselines: bool = True) -> dict[str, int]:
        """Number of candidates of a run by status (every status present, zeros included);
        `baselines=False` counts only the evolved proposals."""
        with self._read() as s:
            out = dict.fromkeys(CANDIDATE_STATUSES, 0)
            query = select(Candidate.status, func.count()).where(Candidate.run_id == run_id)
            if not baselines:
                query = query.where(Candidate.is_baseline == false())
            for status, n in s.execute(query.group_by(Candidate.status)):
                out[status] = n
            return out

    # ----------------------------------------------------------------- evaluations

    @_retrying
    def add_evaluation(
        self, candidate_id: int, *, task: str, seed: int, budget: int, result: EvalResult
    ) -> list[EvaluationRecord]:
        """Store one training: the final row first, then one row per partial reading.

        Partial rows have is_partial true, budget = epochs = the reading's epoch,
        status 'ok', train_seconds/steps NULL and partial_of = final row id.
        """
        _check(result.status, EVALUATION_STATUSES, "evaluation status")
        now = utcnow()
        with self._write() as s:
            if s.get(Candidate, candidate_id) is None:
                raise NotFoundError(f"no candidate with id {candidate_id} in {self.where}")
            final = Evaluation(
                candidate_id=candidate_id,
                task=task,
                seed=int(seed),
                budget=int(budget),
                status=result.status,
                is_partial=False,
                partial_of=None,
                fitness=_num(result.fitness),
                val_accuracy=_num(result.val_accuracy),
                val_loss=_num(result.val_loss),
                train_seconds=_num(result.train_seconds),
                epochs=int(result.epochs),
                steps=int(result.steps),
                batch_size=int(result.batch_size),
                worker=result.worker,
                error=result.error,
                created_at=now,
            )
            s.add(final)
            s.flush()
            rows = [final]
            for p in result.partials:
                rows.append(
                    Evaluation(
                        candidate_id=candidate_id,
                        task=task,
                        seed=int(seed),
                        budget=int(p.epochs),
                        status="ok",
                        is_partial=True,
                        partial_of=final.id,
                        fitness=_num(p.fitness),
                        val_accuracy=_num(p.val_accuracy),
                        val_loss=_num(p.val_loss),
                        train_seconds=None,
                        epochs=int(p.epochs),
                        steps=None,
                        batch_size=int(result.batch_size),
                        worker=result.worker,
                        error=None,
                        created_at=now,
                    )
                )
            s.add_all(rows[1:])
            s.flush()
            return [_evaluation_record(r) for r in rows]

    @_retrying
    def evaluations(self, candidate_id: int, *, partials: bool = True) -> list[EvaluationRecord]:
        """A candidate's evaluations in insertion order (partial readings included by default)."""
        with self._read() as s:
            q = select(Evaluation).where(Evaluation.candidate_id == candidate_id)
            if not partials:
                q = q.where(Evaluation.is_partial == false())
            return [_evaluation_record(r) for r in s.scalars(q.order_by(Evaluation.id))]

    @_retrying
    def run_evaluations(self, run_id: int, *, partials: bool = False) -> list[EvaluationRecord]:
        """All evaluations of a run's candidates (final ones only by default)."""
        with self._read() as s:
            q = (
                select(Evaluation)
                .join(Candidate, Candidate.id == Evaluation.candidate_id)
                .where(Candidate.run_id == run_id)
            )
            if not partials:
                q = q.where(Evaluation.is_partial == false())
            return [_evaluation_record(r) for r in s.scalars(q.order_by(Evaluation.id))]

    # ----------------------------------------------------------------- leaderboard

    @staticmethod
    def _rank_order() -> tuple:
        # Best fitness first; ties: simpler (unknown complexity last), then older.
        return (
            Candidate.fitness.desc(),
            case((Candidate.complexity.is_(None), 1), else_=0),
            Candidate.complexity.asc(),
            Candidate.id.asc(),
        )

    @_retrying
    def leaderboard(
        self, run: str | None = None, task: str | None = None, k: int | None = 10
    ) -> list[LeaderRow]:
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
            .order_by(*self._rank_order())
        )
        if run is not None:
            q = q.where(Run.name == run)
        if task is not None:
            q = q.where(Run.task == task)
        if k is not None:
            q = q.limit(max(int(k), 0))
        with self._read() as s:
            return [
                LeaderRow(
                    rank=i,
                    candidate_id=c.id,
                    run=run_name,
                    task=run_task,
                    expr=c.expr,
                    fitness=c.fitness,
                    fitness_std=c.fitness_std,
                    complexity=c.complexity,
                    origin=c.origin,
                    is_baseline=bool(c.is_baseline),
                    evaluations=n,
                )
                for i, (c, run_name, run_task, n) in enumerate(s.execute(q), start=1)
            ]
