"""SQLAlchemy 2.0 declarative models of the results store.

These classes are private to `actsearch.store`: rows never leave the store,
callers get the frozen records of `actsearch.store.records`. The schema is
documented for people in `docs/schema.md`; every change here needs a new
Alembic revision in `migrations/versions/` (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so that migrations (and SQLite batch mode) can
# refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(200))
    space: Mapped[str] = mapped_column(String(500))
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actsearch_version: Mapped[str] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(Text)  # revision 0002


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        Index("ix_candidates_run_id_fingerprint", "run_id", "fingerprint"),
        Index("ix_candidates_run_id_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    expr: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    complexity: Mapped[int | None] = mapped_column(Integer)  # revision 0002
    generation: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(100))
    is_baseline: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    equivalent_to: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="SET NULL"))
    fitness: Mapped[float | None] = mapped_column(Float)
    fitness_std: Mapped[float | None] = mapped_column(Float)  # revision 0002
    genotype: Mapped[str | None] = mapped_column(Text)  # revision 0003
    ask_seq: Mapped[int | None] = mapped_column(Integer)  # revision 0003
    tell_seq: Mapped[int | None] = mapped_column(Integer)  # revision 0003
    predicted: Mapped[float | None] = mapped_column(Float)  # revision 0006
    learned: Mapped[str | None] = mapped_column(Text)  # revision 0007
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CandidateParent(Base):
    """Lineage: one row per (child, parent) edge; `position` keeps the order."""

    __tablename__ = "candidate_parents"

    child_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    planned_epochs: Mapped[int] = mapped_column(Integer)  # revision 0005 (was budget)
    status: Mapped[str] = mapped_column(String(20))
    is_partial: Mapped[bool] = mapped_column(Boolean)
    partial_of: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    fitness: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int | None] = mapped_column(Integer)
    batch_size: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    learned: Mapped[str | None] = mapped_column(Text)  # revision 0007
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Validation(Base):
    """One training of an activation on a task's training split, scored on its test split
    (`actsearch validate`); keyed by what makes it reusable: expression, task, seed, planned epochs."""

    __tablename__ = "validations"
    __table_args__ = (
        Index("ix_validations_expr_task_seed_planned_epochs", "expr", "task", "seed", "planned_epochs", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expr: Mapped[str] = mapped_column(Text)
    task: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    planned_epochs: Mapped[int] = mapped_column(Integer)  # revision 0005 (was budget)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20))
    fitness: Mapped[float | None] = mapped_column(Float)
    test_accuracy: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
