"""What the commands share: the consoles, the --db/--out options, the output formats,
and the one way a user error ends (one line on stderr, a non-zero exit)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from actsearch.expr import Activation
    from actsearch.store import RunRecord, Store

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[str, typer.Option("--db", help="SQLite path or SQLAlchemy URL of the store.")]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Folder for exports/ and reports/ (default: beside the SQLite store, ./runs for a server)."
    ),
]


class OutputFormat(StrEnum):
    """How `top` prints its rows."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class ValidationFormat(StrEnum):
    """How `validate` prints its scores: `OutputFormat`'s, or a markdown pipe table."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


#: the exit code when Ray stopped under a command (EX_TEMPFAIL: try again, e.g. with --resume)
EXIT_CLUSTER_LOST = 75


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit: how every user error ends."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def files_dir(db: str, out: Path | None = None) -> Path:
    """Where a run's exported module and figures go: --out, else the SQLite file's
    folder (so two stores never share one), else ./runs for a database server."""
    if out is not None:
        return out
    from actsearch.store.schema import is_memory, resolve_url

    url = resolve_url(db)
    if url.get_backend_name() == "sqlite" and url.database and not is_memory(url):
        return Path(url.database).parent
    return Path("runs")


def open_store(db: str, create: bool = True) -> Store:
    """The store, or one line saying why not (read-only commands do not create one)."""
    from actsearch.store import Store, StoreError

    try:
        return Store.open(db, create=create)
    except StoreError as err:
        hint = "" if create else " (run `actsearch search` first, or pass --db)"
        fail(f"{err}{hint}")


def require_run(store: Store, run: str, db: str) -> RunRecord:
    """The run named `run`, or one line saying it is not in `db`."""
    record = store.find_run(run)
    if record is None:
        fail(f"no run named {run!r} in {db}")
    return record


def parse_activation(text: str) -> Activation:
    """A user's expression, or one line saying what is wrong with it."""
    from actsearch.expr import Activation, ParseError

    try:
        return Activation.parse(text)
    except ParseError as err:
        fail(f"{text!r}: {err}")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn every error a user can cause into one line and exit code 2; Ray stopping
    under a command (its head node or this machine's raylet died) into one line and
    EXIT_CLUSTER_LOST."""
    from actsearch.execute import ClusterLost
    from actsearch.expr import ParseError
    from actsearch.search import SearchError
    from actsearch.spaces import SpaceError
    from actsearch.store import StoreError
    from actsearch.tasks import TaskError

    try:
        yield
    except (ParseError, SearchError, SpaceError, StoreError, TaskError) as err:
        fail(str(err))
    except ClusterLost as err:
        fail(f"{err}" + (f" (Ray's logs: {err.logs})" if err.logs else ""), code=EXIT_CLUSTER_LOST)


def print_rows(rows: list[dict], fmt: str) -> None:
    """csv or a markdown pipe table of plain rows (numbers to 4 decimals, p to 2 significant digits)."""

    def cell(key: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2g}" if key.startswith("p") else f"{value:.4f}"
        return str(value)

    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(cell(k, row[k]).replace("|", "\\|") for k in keys) + " |")
