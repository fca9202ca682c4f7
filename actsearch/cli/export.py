"""`actsearch export`: a standalone module for an activation, in the user's framework."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actsearch.cli.common import DbOption, console, fail, open_store, require_run
from actsearch.export.frameworks import Framework as ExportFramework
from actsearch.store import DEFAULT_DB


def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="The Python module to write.")],
    run: Annotated[str | None, typer.Option("--run", help="Run to export from.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="Leaderboard rank within --run.")] = None,
    expr: Annotated[str | None, typer.Option("--expr", help="An expression to export directly.")] = None,
    framework: Annotated[
        ExportFramework,
        typer.Option("--framework", help="keras (keras.ops, any Keras 3 backend), tensorflow, torch, jax or numpy."),
    ] = ExportFramework.keras,
    parametric: Annotated[
        bool, typer.Option(help="Also export a form with trainable constants (Keras layer, nn.Module, params dict).")
    ] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a standalone module for an activation in the user's framework."""
    if (expr is None) == (run is None or rank is None):
        fail("give either --expr E, or both --run NAME and --rank R")
    if expr is None:
        assert run is not None and rank is not None  # checked above
        store = open_store(db, create=False)
        require_run(store, run, db)
        rows = [r for r in store.leaderboard(run=run, k=max(rank, 1)) if r.rank == rank]
        if not rows:
            fail(f"run {run!r} has no rank {rank}")
        expr = rows[0].expr
    write_export(expr, output, parametric=parametric, framework=framework.value)
    console.print(f"wrote {output}")


def write_export(expr: str, path: Path, parametric: bool, framework: str = "keras") -> None:
    """The module for `expr` at `path` (its folder created if need be)."""
    from actsearch.export import write_module
    from actsearch.expr import Activation, ParseError

    try:
        activation = Activation.parse(expr)
    except ParseError as err:
        fail(f"--expr: {err}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_module(activation, path, parametric=parametric, framework=framework)
