"""`WriteBatch`: a search's writes, buffered and committed together in one transaction.

The search loop writes every proposal, result and outcome as it happens; one
transaction each (nine per result) made the store the wall of a fast cluster.
A `WriteBatch` (from `Store.batch()`) takes the same three writes as the Store
methods of the same names, keeps them in memory in order, and `flush()` commits
them all in one transaction: the store then holds everything written up to the
flush, or (if the process dies first) nothing of it. Either way it holds the
state of the search at some flush, which is what a resume starts from.

Candidate ids are needed before the flush (the strategy, the trials, later
proposals' parents and duplicates refer to them), so the batch takes them in
advance: on SQLite the batch's write transaction starts at the first id it
hands out (`BEGIN IMMEDIATE`, so nobody else can take the ids after the largest
one) and holds the write lock until the flush; on PostgreSQL ids come from the
table's sequence, reserved in blocks (`nextval`). Rows are inserted with these
explicit ids, updates of candidates already stored go by id, and a candidate
added and finished in the same batch is inserted once, finished.

A flush that meets lock contention or a lost server connection (a PostgreSQL
restart) is retried as a whole, with backoff, for up to `Store.retry_seconds`;
if the connection broke during the commit, the retry first checks whether the
batch was committed (its rows have fixed ids), so a batch is never written
twice. Past the limit, StoreError says in one line that the server stayed away.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from actsearch.results import EvalResult, one_line
from actsearch.store import convert, schema
from actsearch.store.models import Candidate, CandidateParent, Evaluation, utcnow
from actsearch.store.records import CANDIDATE_STATUSES, EVALUATION_STATUSES, StoreError

if TYPE_CHECKING:
    from actsearch.store.api import Store

log = logging.getLogger(__name__)

_CANDIDATES = cast(Table, Candidate.__table__)
_PARENTS = cast(Table, CandidateParent.__table__)
_EVALUATIONS = cast(Table, Evaluation.__table__)
#: ids reserved from a PostgreSQL sequence per round trip
ID_BLOCK = 1024


class WriteBatch:
    """Buffered writes of one search, committed together by `flush()` (see the module doc).

    Only the search that made it writes through it; while a batch holds ids on SQLite
    (between its first `add_candidate` and the flush) the same store must not be
    written otherwise: the write lock is the batch's (the search flushes first)."""

    def __init__(self, store: Store) -> None:
        from actsearch.store.api import ORIGIN_PATTERN

        self._store = store
        self._origin = ORIGIN_PATTERN
        self._sqlite = store.backend == "sqlite"
        self._candidates: list[dict[str, Any]] = []  # rows to insert, ids ascending
        self._new: dict[int, dict[str, Any]] = {}  # id -> its row above
        self._parents: list[dict[str, Any]] = []
        self._evaluations: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []  # final row, partial rows
        self._updates: dict[int, dict[str, Any]] = {}  # stored candidate id -> columns to set
        self._conn: Connection | None = None  # SQLite: the open write transaction that holds the ids
        self._next_id = 0  # SQLite: the next candidate id to hand out
        self._reserved: deque[int] = deque()  # PostgreSQL: candidate ids taken from the sequence
        self._since: float | None = None  # time.monotonic() of the oldest write not flushed
        self.flushes = 0
        self.rows = 0  # rows written by the flushes so far

    # ----------------------------------------------------------------- state

    @property
    def pending(self) -> int:
        """Writes waiting for the next flush."""
        return len(self._candidates) + len(self._updates) + len(self._evaluations)

    @property
    def age(self) -> float:
        """Seconds since the oldest write not flushed yet (0 when there is none)."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    def due(self, seconds: float, writes: int) -> bool:
        """Whether the batch is older than `seconds` or holds at least `writes` writes."""
        return self._since is not None and (self.pending >= writes or self.age >= seconds)

    @property
    def holds_lock(self) -> bool:
        """SQLite: the batch's write transaction is open (it holds ids not stored yet)."""
        return self._conn is not None

    def _touch(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    # ----------------------------------------------------------------- writes

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
    ) -> int:
        """`Store.add_candidate`, buffered; returns the candidate's id (fixed now)."""
        if status not in CANDIDATE_STATUSES:
            raise ValueError(f"unknown candidate status {status!r}")
        if not self._origin.match(origin):
            raise ValueError(f"unknown origin {origin!r}; expected init, crossover, mutation:NAME, baseline or user")
        candidate_id = self._take_id()
        now = utcnow()
        row = {
            "id": candidate_id,
            "run_id": run_id,
            "expr": expr,
            "fingerprint": fingerprint,
            "complexity": None if complexity is None else int(complexity),
            "generation": int(generation),
            "origin": origin,
            "is_baseline": bool(is_baseline),
            "status": status,
            "reason": reason,
            "equivalent_to": equivalent_to,
            "fitness": None,
            "fitness_std": None,
            "genotype": genotype,
            "ask_seq": ask_seq,
            "tell_seq": None,
            "predicted": convert.num(predicted),
            "learned": None,
            "created_at": now,
            "updated_at": now,
        }
        self._candidates.append(row)
        self._new[candidate_id] = row
        self._parents.extend(
            {"child_id": candidate_id, "position": i, "parent_id": int(p)} for i, p in enumerate(parents)
        )
        self._touch()
        return candidate_id

    def add_evaluation(
        self, candidate_id: int, *, task: str, seed: int, planned_epochs: int, result: EvalResult
    ) -> None:
        """`Store.add_evaluation`, buffered: the final row and its partial readings."""
        if result.status not in EVALUATION_STATUSES:
            raise ValueError(f"unknown evaluation status {result.status!r}")
        now = utcnow()
        num = convert.num
        final = {
            "candidate_id": candidate_id,
            "task": task,
            "seed": int(seed),
            "planned_epochs": int(planned_epochs),
            "status": result.status,
            "is_partial": False,
            "partial_of": None,
            "fitness": num(result.fitness),
            "val_accuracy": num(result.val_accuracy),
            "val_loss": num(result.val_loss),
            "train_seconds": num(result.train_seconds),
            "epochs": int(result.epochs),
            "steps": int(result.steps),
            "batch_size": int(result.batch_size),
            "worker": result.worker,
            "error": result.error,
            "learned": convert.learned_json(result),
            "created_at": now,
        }
        partials = [
            {
                **final,
                "planned_epochs": int(p.epochs),
                "epochs": int(p.epochs),
                "status": "ok",
                "is_partial": True,
                "fitness": num(p.fitness),
                "val_accuracy": num(p.val_accuracy),
                "val_loss": num(p.val_loss),
                "train_seconds": None,
                "steps": None,
                "error": None,
                "learned": None,
            }
            for p in result.partials
        ]
        self._evaluations.append((final, partials))
        self._touch()

    def finish_candidate(
        self,
        candidate_id: int,
        *,
        fitness: float | None,
        fitness_std: float | None = None,
        status: str | None = None,
        reason: str | None = None,
        tell_seq: int | None = None,
        expr: str | None = None,
        learned: str | None = None,
    ) -> None:
        """`Store.finish_candidate`, buffered (and `expr`: the form that was trained, when known)."""
        values: dict[str, Any] = {
            "fitness": convert.num(fitness),
            "fitness_std": convert.num(fitness_std),
            "updated_at": utcnow(),
        }
        if status is not None:
            if status not in CANDIDATE_STATUSES:
                raise ValueError(f"unknown candidate status {status!r}")
            values["status"], values["reason"] = status, reason
        if tell_seq is not None:
            values["tell_seq"] = int(tell_seq)
        if expr is not None:
            values["expr"] = expr
        if learned is not None:
            values["learned"] = learned
        row = self._new.get(candidate_id)
        if row is not None:
            row.update(values)  # added in this batch: inserted once, finished
        else:
            self._updates.setdefault(candidate_id, {}).update(values)
        self._touch()

    def set_expr(self, candidate_id: int, expr: str, status: str | None = None) -> None:
        """A candidate's expression from now on (the form its worker reported it trained, or
        the one it is queued to train), and its status when given."""
        values: dict[str, Any] = {"expr": expr, "updated_at": utcnow()}
        if status is not None:
            if status not in CANDIDATE_STATUSES:
                raise ValueError(f"unknown candidate status {status!r}")
            values["status"] = status
        row = self._new.get(candidate_id)
        if row is not None:
            row.update(values)
        else:
            self._updates.setdefault(candidate_id, {}).update(values)
        self._touch()

    # ----------------------------------------------------------------- ids

    def _take_id(self) -> int:
        if self._sqlite:
            if self._conn is None:
                self._begin_sqlite()
            self._next_id += 1
            return self._next_id - 1
        if not self._reserved:
            self._reserved.extend(self._retrying(lambda: self._sequence("candidates", ID_BLOCK), "reserving ids"))
        return self._reserved.popleft()

    def _begin_sqlite(self) -> None:
        """Open the batch's write transaction (it waits for the write lock) and read the next free id."""

        def begin() -> Connection:
            conn = self._store._writer.connect()
            try:
                conn.begin()
                conn.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE runs with the first statement
                return conn
            except BaseException:
                conn.close()
                raise

        conn = self._retrying(begin, "starting a write")
        try:
            self._next_id = (conn.scalar(select(func.max(_CANDIDATES.c.id))) or 0) + 1
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _sequence(self, table: str, count: int) -> list[int]:
        """`count` ids from a PostgreSQL table's id sequence (never handed out again)."""
        query = text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)")
        with self._store._engine.connect() as conn:  # nextval needs no commit: a rollback keeps it taken
            return [int(i) for i in conn.execute(query, {"n": count}).scalars()]

    # ----------------------------------------------------------------- flush

    def flush(self) -> None:
        """Commit every buffered write in one transaction (retried as a whole)."""
        if not self.pending:
            self._release()
            return
        evaluation_ids: list[int] = []
        needed = sum(1 + len(partials) for _, partials in self._evaluations)
        if needed and not self._sqlite:  # fixed before the first attempt: a retry can tell whether it committed
            evaluation_ids = self._retrying(lambda: self._sequence("evaluations", needed), "reserving ids")
        if self._sqlite:
            self._flush_sqlite()
        else:
            attempt = 0

            def write() -> None:
                nonlocal attempt
                attempt += 1
                with self._store._writer.connect() as conn:
                    if attempt > 1 and self._committed(conn, evaluation_ids):
                        return
                    with conn.begin():  # explicit: COPY runs on the driver's connection
                        self._write(conn, evaluation_ids)

            self._retrying(write, "writing")
        self.flushes += 1
        self.rows += len(self._candidates) + len(self._parents) + len(self._updates) + needed
        self._clear()

    def _flush_sqlite(self) -> None:
        """SQLite: write and commit in the batch's transaction (begun now if no id was taken).
        Only beginning is retried: once the transaction holds the lock, nothing contends."""
        if self._conn is None:
            self._begin_sqlite()
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            self._write(conn, [])
            conn.commit()
        except IntegrityError as exc:
            raise StoreError(f"writing a batch: rejected by the database: {one_line(exc, with_type=False)}") from exc
        except DBAPIError as exc:
            raise StoreError(f"writing a batch on {self._store.where}: {one_line(exc, with_type=False)}") from exc
        finally:
            conn.close()

    def _insert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` (dicts with the same keys): PostgreSQL streams them with COPY, in the
        transaction `conn` holds (one round trip, no statement per row)."""
        if self._sqlite:
            conn.execute(insert(table), rows)
            return
        columns = list(rows[0])
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def _write(self, conn: Connection, evaluation_ids: list[int]) -> None:
        """Every buffered write, in order, on `conn` (inside its transaction)."""
        if self._candidates:
            self._insert(conn, _CANDIDATES, self._candidates)
        if self._parents:
            self._insert(conn, _PARENTS, self._parents)
        if self._evaluations:
            ids = iter(evaluation_ids)
            if self._sqlite:
                first = (conn.scalar(select(func.max(_EVALUATIONS.c.id))) or 0) + 1
                ids = iter(range(first, first + sum(1 + len(p) for _, p in self._evaluations)))
            finals: list[dict[str, Any]] = []
            partials: list[dict[str, Any]] = []
            for final, readings in self._evaluations:
                final_id = next(ids)
                finals.append({**final, "id": final_id})
                partials.extend({**row, "id": next(ids), "partial_of": final_id} for row in readings)
            self._insert(conn, _EVALUATIONS, finals)
            if partials:
                self._insert(conn, _EVALUATIONS, partials)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for candidate_id, values in self._updates.items():
            keys = tuple(sorted(values))
            groups.setdefault(keys, []).append({"c_id": candidate_id, **{f"v_{k}": v for k, v in values.items()}})
        for keys, params in groups.items():
            statement = (
                update(_CANDIDATES)
                .where(_CANDIDATES.c.id == bindparam("c_id"))
                .values({k: bindparam(f"v_{k}") for k in keys})
            )
            conn.execute(statement, params)

    def _committed(self, conn: Connection, evaluation_ids: list[int]) -> bool:
        """After a connection lost mid-flush: whether the batch was committed nonetheless
        (then its first inserted row is there; a batch of updates alone is simply redone)."""
        if self._candidates:
            probe = select(_CANDIDATES.c.id).where(_CANDIDATES.c.id == self._candidates[0]["id"])
        elif evaluation_ids:
            probe = select(_EVALUATIONS.c.id).where(_EVALUATIONS.c.id == evaluation_ids[0])
        else:
            return False
        found = conn.scalar(probe) is not None
        conn.rollback()
        return found

    def _retrying(self, action: Any, what: str) -> Any:
        """`action()`, retried with backoff while the database is locked or out of reach."""
        store = self._store
        deadline = time.monotonic() + store.retry_seconds
        delay, warned = 0.05, False
        while True:
            try:
                return action()
            except IntegrityError as exc:
                self._release()
                raise StoreError(f"{what} a batch: rejected by the database: {one_line(exc, with_type=False)}") from exc
            except DBAPIError as exc:
                self._release()
                lost = schema.is_disconnect(exc)
                if not (lost or schema.is_contention(exc)):
                    raise StoreError(f"{what} a batch on {store.where}: {one_line(exc, with_type=False)}") from exc
                if time.monotonic() >= deadline:
                    problem = "stayed out of reach" if lost else "stayed locked"
                    raise StoreError(
                        f"{store.where} {problem} for {store.retry_seconds:.0f} s ({one_line(exc, with_type=False)}); "
                        "the last results were not stored"
                    ) from exc
                if lost and not warned:
                    warned = True
                    log.warning(
                        "lost the connection to %s (%s); retrying for up to %.0f s",
                        store.where,
                        one_line(exc, with_type=False),
                        store.retry_seconds,
                    )
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    # ----------------------------------------------------------------- ending

    def _release(self) -> None:
        """Roll back and close the SQLite write transaction, if open (its ids are given up)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # rolls back
            except DBAPIError:
                pass

    def _clear(self) -> None:
        self._candidates, self._new, self._parents = [], {}, []
        self._evaluations, self._updates = [], {}
        self._since = None

    def discard(self) -> None:
        """Drop every write not flushed (the store keeps what the last flush wrote)."""
        self._release()
        self._clear()
        self._next_id = 0
        self._reserved.clear()  # PostgreSQL: unused ids are a harmless gap

    def close(self) -> None:
        """End the batch: what was not flushed is dropped (flush first to keep it)."""
        self.discard()
        self._store._batch_closed(self)
