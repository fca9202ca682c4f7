"""The `validations` table: test-split trainings of `actsearch validate`, stored so that
validating again trains only what is missing.

A row is keyed by (expr, task, seed, planned_epochs): the same canonical activation
trained on the same task with the same seed and epochs gives the same
training, whichever run (if any) proposed it. Timeouts are not reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select

from actsearch.results import EvalResult
from actsearch.store.api import Store
from actsearch.store.convert import num as _num
from actsearch.store.models import Candidate, Evaluation, Validation, utcnow
from actsearch.store.schema import retrying as _retrying

REUSABLE = ("ok", "failed")


@dataclass(frozen=True)
class ValidationRecord:
    expr: str
    task: str
    seed: int
    planned_epochs: int
    status: str
    fitness: float | None


class Validations:
    """Reads and writes of the validations table, on an open `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.where = store.where  # for the error messages of _retrying
        self.retry_seconds = store.retry_seconds

    @_retrying
    def saved(self, exprs: Iterable[str], task: str, planned_epochs: int) -> dict[tuple[str, int], ValidationRecord]:
        """(expr, seed) -> stored reusable result for these activations on `task` at `planned_epochs`."""
        exprs = list(exprs)
        with self.store.read_session() as s:
            rows = s.scalars(
                select(Validation).where(
                    Validation.expr.in_(exprs),
                    Validation.task == task,
                    Validation.planned_epochs == planned_epochs,
                    Validation.status.in_(REUSABLE),
                )
            )
            return {
                (r.expr, r.seed): ValidationRecord(r.expr, r.task, r.seed, r.planned_epochs, r.status, r.fitness)
                for r in rows
            }

    @_retrying
    def save(
        self, *, expr: str, task: str, seed: int, planned_epochs: int, result: EvalResult, run_id: int | None = None
    ) -> None:
        """Store one result, replacing an earlier one with the same key (a timeout retried)."""
        with self.store.write_session() as s:
            s.execute(
                delete(Validation).where(
                    Validation.expr == expr,
                    Validation.task == task,
                    Validation.seed == seed,
                    Validation.planned_epochs == planned_epochs,
                )
            )
            s.add(
                Validation(
                    expr=expr,
                    task=task,
                    seed=int(seed),
                    planned_epochs=int(planned_epochs),
                    run_id=run_id,
                    status=result.status,
                    fitness=_num(result.fitness),
                    test_accuracy=_num(result.val_accuracy),
                    test_loss=_num(result.val_loss),
                    train_seconds=_num(result.train_seconds),
                    epochs=int(result.epochs),
                    worker=result.worker,
                    error=result.error,
                    created_at=utcnow(),
                )
            )

    @_retrying
    def trained_seeds(self, run_id: int | None, exprs: Iterable[str]) -> set[int]:
        """Every seed a run trained with, and every seed any run trained one of `exprs` with."""
        exprs = list(exprs)
        with self.store.read_session() as s:
            where = [Candidate.expr.in_(exprs)] + ([Candidate.run_id == run_id] if run_id is not None else [])
            rows = s.scalars(
                select(Evaluation.seed)
                .distinct()
                .join(Candidate, Candidate.id == Evaluation.candidate_id)
                .where(or_(*where))
            )
            return set(rows)
