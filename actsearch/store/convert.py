"""Rows <-> records: the one place where ORM rows and frozen records meet.

A record is built from a row field by field by name (`to_record`), so adding
a column to both is all a new field needs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any, TypeVar

from actsearch.results import EvalResult
from actsearch.store.models import Evaluation, Run
from actsearch.store.records import RunRecord

R = TypeVar("R")


def aware(value: datetime | None) -> datetime | None:
    # SQLite keeps no time zone: everything is stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def num(value: float | None) -> float | None:
    """NaN -> None (SQLite cannot store NaN; keep both backends alike)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def config_json(config: Mapping[str, Any]) -> str:
    """A run's config as JSON text (paths, sets, dates, dataclasses and pydantic models allowed)."""
    return json.dumps(dict(config), sort_keys=True, default=_json_default)


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


def to_record(cls: type[R], row: object, **given: Any) -> R:
    """A frozen record from an ORM row: every field of `cls` read from the
    column of the same name (times made aware), unless `given`."""
    values = dict(given)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in values:
            value = getattr(row, f.name)
            values[f.name] = aware(value) if isinstance(value, datetime) else value
    return cls(**values)


def run_record(row: Run) -> RunRecord:
    return to_record(RunRecord, row, config=json.loads(row.config))


def evaluation_row(candidate_id: int, task: str, seed: int, result: EvalResult, now: datetime) -> Evaluation:
    """The final evaluation row of one training (partial readings are derived from it)."""
    return Evaluation(
        candidate_id=candidate_id,
        task=task,
        seed=int(seed),
        status=result.status,
        is_partial=False,
        partial_of=None,
        fitness=num(result.fitness),
        val_accuracy=num(result.val_accuracy),
        val_loss=num(result.val_loss),
        train_seconds=num(result.train_seconds),
        epochs=int(result.epochs),
        steps=int(result.steps),
        batch_size=int(result.batch_size),
        worker=result.worker,
        error=result.error,
        learned=learned_json(result),
        created_at=now,
    )


def learned_json(result: EvalResult) -> str | None:
    """A training's learned constants as stored (a JSON list), or None."""
    return None if result.learned is None else json.dumps([float(v) for v in result.learned])
