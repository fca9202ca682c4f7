"""`actsearch tasks`: the built-in tasks, what each trains and how (no TensorFlow, no data)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from actsearch.cli.common import console


def tasks(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a list of objects).")] = False,
) -> None:
    """List the built-in tasks (names for --task): data and model, training setup, fitness.

    A user task is given as path/to/file.py:make_task or package.module:make_task instead."""
    from rich.table import Table

    from actsearch.tasks import get_task, task_names

    rows = []
    for name in task_names():
        task = get_task(name)
        fitness = task.metric_name if task.higher_is_better else f"-{task.metric_name}"
        rows.append({"name": name, "description": task.description, "fitness": fitness, **task.setup.to_dict()})
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title="built-in tasks")
    for column in ("name", "data and model", "setup", "fitness"):
        table.add_column(column, overflow="fold")
    for row in rows:
        setup = f"{row['epochs']} epochs, batch {row['batch_size']}, {row['optimizer']} {row['learning_rate']:g}"
        table.add_row(str(row["name"]), str(row["description"]), setup, str(row["fitness"]))
    console.print(table)
