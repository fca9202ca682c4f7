"""`actsearch dashboard`: a live, read-only web page on the store."""

from __future__ import annotations

from typing import Annotated

import typer

from actsearch.cli.common import DbOption, console, err_console, fail
from actsearch.store import DEFAULT_DB


def dashboard(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
) -> None:
    """Serve a live, read-only web page on the store: runs, a run, a candidate, compare."""
    from actsearch.dashboard.app import exposure_warning, serve
    from actsearch.store import Store, StoreError

    try:
        store = Store.open(db, read_only=True)
    except StoreError as err:
        fail(str(err))
    warning = exposure_warning(host)
    if warning:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    console.print(
        f"actsearch dashboard on http://{host}:{port}/  (read-only, {store.where}; Ctrl-C stops)",
        highlight=False,
        soft_wrap=True,
    )
    serve(store, host, port)
