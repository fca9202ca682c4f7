"""The `actsearch` command: parse arguments, call search/store/export, print.

Each command group lives in its own module (search, results, export, evaluate,
validate, dashboard, tasks); this module assembles them into one app. Heavy modules
(TensorFlow, Ray, DEAP) are imported inside the commands that need them, so
`actsearch top` and `actsearch --help` answer in well under a second.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer

from actsearch.cli.common import err_console
from actsearch.cli.dashboard import dashboard
from actsearch.cli.evaluate import evaluate
from actsearch.cli.export import export
from actsearch.cli.results import report, runs, show, top
from actsearch.cli.search import search
from actsearch.cli.tasks import tasks
from actsearch.cli.validate import validate

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Discover neural-network activation functions by evolution.",
)
for command in (search, top, runs, show, export, report, dashboard, evaluate, validate, tasks):
    app.command()(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; a usage error (bad option or value) ends in one line and exit 2."""
    # Quiet TensorFlow's C++ start-up chatter here and in the Ray workers (they inherit it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # no_args_is_help: typer prints the help itself
        app(args=args)
    try:
        code = app(args=args, standalone_mode=False)
    except _click_exception() as err:
        err_console.print(f"[bold red]error:[/] {_one_line(err)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(err, "exit_code", 2))
    except typer.Abort:
        err_console.print("[bold red]error:[/] aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(err: Any) -> str:
    """click's message, with the command whose --help explains it."""
    message = " ".join(str(err.format_message()).split())
    ctx = getattr(err, "ctx", None)
    return f"{message} (see `{ctx.command_path} --help`)" if ctx is not None else message


def _click_exception() -> type[Exception]:
    """The base of the usage errors typer raises: TyperException since typer carries its
    own copy of click (0.2x), click's ClickException before."""
    public = getattr(typer, "TyperException", None)
    if isinstance(public, type) and issubclass(public, Exception):
        return public
    from click.exceptions import ClickException

    return ClickException


__all__ = ["app", "main"]
