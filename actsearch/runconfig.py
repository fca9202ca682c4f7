"""Reading a run's stored config, as any version of actsearch stored it.

A run stores its settings as JSON (`SearchSettings.to_config`): the search space
(whose `tasks` are the tasks searched on) and the seed. Older versions stored
the tasks beside the space, under a top-level "task" (a name, or a list of
them) that the loop trained on whatever the space said. This module is the one
reader of both shapes: `actsearch.spaces.SearchSettings.from_config` (resume)
validates what it returns, and the CLI and the dashboard read from it without
validating. It imports only the standard library, so that any layer (the store
and dashboard read side included) can use it without importing sympy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def split_tasks(value: object) -> tuple[str, ...]:
    """Task names from a stored value: a list of names, or one name or a comma-joined
    label (the runs table's `task` column); blanks dropped, order kept."""
    if isinstance(value, str):
        names: list[object] = list(value.split(","))
    elif isinstance(value, (list, tuple)):
        names = list(value)
    else:
        return ()
    return tuple(name.strip() for name in names if isinstance(name, str) and name.strip())


def stored_space(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored space's fields with the run's tasks under `tasks` (a legacy top-level
    "task" wins: it is what that run trained on), ready for `SearchSpace.model_validate`."""
    config = config or {}
    space = dict(config.get("space") or {})
    legacy = config.get("task")
    stored = legacy if legacy is not None else space.get("tasks", space.get("task"))
    space.pop("task", None)
    if stored is not None:
        space["tasks"] = list(split_tasks(stored)) if isinstance(stored, str) else stored
    return space


def run_tasks(config: Mapping[str, Any] | None, column: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A stored run's search tasks, and its space's validation-only tasks (not among
    them); `column` (the runs table's task label) when the config names none."""
    space = stored_space(config)
    tasks = split_tasks(space.get("tasks")) or split_tasks(column)
    extra = tuple(t for t in split_tasks(space.get("validate_tasks")) if t not in tasks)
    return tasks, extra


def planned_trainings(explicit: int | None, population: int, generations: int, seeds: int, tasks: int) -> int:
    """A budget in trainings: the explicit `budget.trainings`, else population x generations
    proposals, each trained once per seed and task (duplicates and rejections cost none)."""
    if explicit is not None:
        return explicit
    return population * generations * seeds * tasks


def stored_trainings(config: Mapping[str, Any] | None, column: str = "") -> int | None:
    """The trainings a stored run planned (`SearchSpace.trainings`), None if its config
    lacks a number it needs (a run stored by hand or by a test)."""
    space = stored_space(config)
    budget = space.get("budget") or {}
    evolution = space.get("evolution") or {}
    explicit = budget.get("trainings")
    if isinstance(explicit, int):
        return explicit
    try:
        return planned_trainings(
            None,
            int(evolution["population"]),
            int(evolution["generations"]),
            int(budget.get("seeds_per_candidate", 1)),
            len(run_tasks(config, column)[0]) or 1,
        )
    except (KeyError, TypeError, ValueError):
        return None


def across_tasks_label(config: Mapping[str, Any] | None) -> str:
    """What a stored run's fitness across tasks is, in words (its space's `fitness` section)."""
    fitness = stored_space(config).get("fitness") or {}
    across = "median" if fitness.get("across_tasks") == "median" else "mean"
    if fitness.get("units") == "seed_spread":
        return f"{across} over tasks of (fitness - the best baseline's there) / the task's seed spread"
    return f"{across} over tasks of fitness minus the best baseline's there"
