"""The results store: SQLAlchemy models, migrations, queries (SQLite or PostgreSQL).

Import is light: `Store` (and SQLAlchemy) load on first use.

    from actsearch.store import Store
    with Store.open("runs/actsearch.db") as store:
        print(store.leaderboard(k=5))

Readers beside a running search (dashboard, reports) open it with
`Store.open(db, read_only=True)`; `actsearch.store.queries` holds the
overviews they show, as plain data. Nothing outside this package touches the
ORM models or the store's sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    from actsearch.store.api import Store

#: Where the store lives when no --db is given (relative to the working directory).
DEFAULT_DB = "runs/actsearch.db"

__all__ = [
    "CANDIDATE_STATUSES",
    "DEFAULT_DB",
    "EVALUATION_STATUSES",
    "RUN_STATUSES",
    "CandidateRecord",
    "EvaluationRecord",
    "LeaderRow",
    "NotFoundError",
    "RunRecord",
    "RunSummary",
    "Store",
    "StoreError",
]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from actsearch.store.api import Store

        return Store
    raise AttributeError(f"module 'actsearch.store' has no attribute {name!r}")
