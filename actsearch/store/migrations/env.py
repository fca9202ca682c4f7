"""Alembic environment of the actsearch store.

The store runs migrations programmatically (see `actsearch.store.schema`):
it passes an open connection, already inside a locked transaction, through
`config.attributes["connection"]`. Developers can also use the Alembic CLI:
`alembic -c actsearch/store/alembic.ini -x url=sqlite:///runs/actsearch.db upgrade head`.
"""

from __future__ import annotations

from alembic import context

from actsearch.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("give the database with -x url=... (or sqlalchemy.url in alembic.ini)")
    return url


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for most ALTERs
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from sqlalchemy import create_engine

    engine = create_engine(_url())
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
