"""Opening a database: URL handling, engine set-up and schema versioning.

The schema version lives in Alembic's `alembic_version` table. Opening a
database compares it with the revisions this package ships (without importing
Alembic, which is only needed to migrate):

* empty database             -> create the schema (Alembic upgrade head)
* older known revision       -> migrate to head, rows kept
* head                       -> nothing to do
* unknown revision           -> StoreError "created by a newer actsearch"
* other tables, no revision  -> StoreError "not an actsearch database"

Creation and migration run inside one locked transaction (SQLite `BEGIN
IMMEDIATE`, PostgreSQL advisory lock) so that processes opening the same new
database at the same time do not race.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from actsearch.results import one_line
from actsearch.store import DEFAULT_DB
from actsearch.store.records import StoreError

T = TypeVar("T")

# Every revision in migrations/versions, oldest first (a test checks this list
# against Alembic's script directory). Add new ones at the end.
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")
HEAD = KNOWN_REVISIONS[-1]
ACTSEARCH_TABLES = frozenset({"runs", "candidates", "candidate_parents", "evaluations", "validations"})
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_LOCK_KEY = 0x61637473  # "acts": serialises schema creation/migration on PostgreSQL
_WRITE = "actsearch_write"  # execution option: this transaction will write


def resolve_url(url_or_path: str | Path | None) -> URL:
    """A filesystem path or SQLAlchemy URL -> the URL the store connects to.

    Paths become `sqlite:////abs/path` (parent directories are created);
    `postgresql://` and `postgres://` use the psycopg 3 driver.
    """
    raw = DEFAULT_DB if url_or_path is None else url_or_path
    if isinstance(raw, Path) or "://" not in str(raw) and not str(raw).startswith("sqlite:"):
        text_path = str(raw)
        if text_path == ":memory:":
            return URL.create("sqlite", database=":memory:")
        path = Path(text_path).expanduser().resolve()
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        return URL.create("sqlite", database=str(path))
    try:
        url = make_url(str(raw))
    except ArgumentError as exc:
        raise StoreError(f"not a database URL or path: {raw!r}") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url


def display_url(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: URL, *, read_only: bool = False) -> Engine:
    """An engine with the store's connection settings (`read_only`: never switch
    the journal mode, which would be a write)."""
    backend = url.get_backend_name()
    kwargs: dict = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "check_same_thread": False,
        }
        if is_memory(url):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"no driver for {url.drivername} (for PostgreSQL: pip install 'psycopg[binary]')") from exc
    if backend == "sqlite":
        _sqlite_events(engine, wal=not is_memory(url) and not read_only)
    return engine


def _sqlite_events(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own
        # implicit transactions cannot do BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if wal:
                _enable_wal(cur)
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that
        # upgrades from read to write can fail with SQLITE_BUSY at once,
        # without waiting for busy_timeout.
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _enable_wal(cur) -> None:
    """Switch the file to WAL once. Switching needs an exclusive lock and SQLite
    answers SQLITE_BUSY at once (busy_timeout does not apply) while another
    process is creating the same new file, so retry for up to busy_timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def write_engine(engine: Engine) -> Engine:
    """The same engine (shared pool) whose transactions take the write lock."""
    return engine.execution_options(**{_WRITE: True})


def _state(conn: Connection, where: str) -> str:
    """'fresh', 'current' or 'older'; raises StoreError for foreign/newer databases."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables:
        if not tables:
            return "fresh"
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"{where} is not an actsearch database (it has tables {shown} "
            "and no actsearch schema version); use another --db"
        )
    revisions = {r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version"))}
    ours = bool(tables & {"runs", "candidates"})
    if not revisions:
        if tables == {"alembic_version"}:
            return "fresh"
        raise StoreError(f"{where} is not an actsearch database (empty alembic_version)")
    unknown = revisions - set(KNOWN_REVISIONS)
    if unknown:
        rev = ", ".join(sorted(unknown))
        if ours:
            raise StoreError(
                f"{where} was created by a newer actsearch (schema revision {rev}; "
                f"this version knows up to {HEAD}); upgrade actsearch to open it"
            )
        raise StoreError(f"{where} is not an actsearch database (Alembic revision {rev} is not ours)")
    if len(revisions) > 1:
        raise StoreError(f"{where} has several schema revisions ({sorted(revisions)}); repair it")
    return "current" if revisions == {HEAD} else "older"


def alembic_config(connection: Connection | None = None):
    """An Alembic Config built in code, pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(conn: Connection, target: str = "head") -> None:
    """Run Alembic migrations on `conn`, inside the caller's transaction."""
    from alembic import command

    command.upgrade(alembic_config(conn), target)


def prepare(engine: Engine, where: str, *, create: bool = True) -> None:
    """Check the schema version; create or migrate the schema when needed."""
    with engine.connect() as conn:
        state = _state(conn, where)
        conn.rollback()
    if state == "current":
        return
    if state == "fresh" and not create:
        raise StoreError(f"{where} holds no actsearch results yet")
    with write_engine(engine).connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        # Re-check under the lock: another process may have done it meanwhile.
        if _state(conn, where) != "current":
            upgrade(conn, "head")


def _open_failed(exc: DBAPIError, where: str) -> StoreError:
    """A driver error while opening -> the one-line StoreError a user sees."""
    msg = one_line(exc, with_type=False)
    if "file is not a database" in msg:
        return StoreError(f"{where} is not an actsearch database (not an SQLite file)")
    return StoreError(f"cannot open {where}: {msg}")


def open_engine(url_or_path: str | Path | None, *, create: bool = True) -> tuple[Engine, URL]:
    """An engine on a database at the schema head (created or migrated if needed)."""
    url = resolve_url(url_or_path)
    where = display_url(url)
    if url.get_backend_name() == "sqlite" and url.database and not is_memory(url):
        path = Path(url.database)
        if not path.exists():
            if not create:
                raise StoreError(f"no actsearch database at {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from exc
    engine = make_engine(url)
    try:
        prepare(engine, where, create=create)
    except StoreError:
        engine.dispose()
        raise
    except DBAPIError as exc:
        engine.dispose()
        raise _open_failed(exc, where) from exc
    return engine, url


def open_readonly_engine(url_or_path: str | Path | None) -> tuple[Engine, URL]:
    """An engine that cannot write, on a database already at the schema head.

    SQLite is opened with `mode=ro` (WAL readers never block the writer, so a
    search can keep writing the same file); PostgreSQL sessions get
    `default_transaction_read_only`. Nothing is created or migrated: a
    missing, empty, foreign, older or newer database raises StoreError (one
    line), with the same wording as `open_engine`.
    """
    url = resolve_url(url_or_path)
    where = display_url(url)
    if url.get_backend_name() == "sqlite":
        if is_memory(url) or url.database is None:
            raise StoreError("a read-only store needs a database file or server, not :memory:")
        path = Path(url.database)
        if not path.is_file():
            raise StoreError(f"no actsearch database at {path}")
        engine = make_engine(
            URL.create("sqlite", database=f"file:{path.as_posix()}?mode=ro", query={"uri": "true"}),
            read_only=True,
        )
    else:
        options = f"{url.query.get('options', '')} -c default_transaction_read_only=on".strip()
        engine = make_engine(url.update_query_dict({"options": options}))
    try:
        with engine.connect() as conn:
            state = _state(conn, where)
            conn.rollback()
        if state == "fresh":
            raise StoreError(f"{where} holds no actsearch results yet")
        if state == "older":
            raise StoreError(
                f"{where} has an older actsearch schema; open it once with a command that "
                f"writes (e.g. `actsearch runs --db {where}`) to upgrade it"
            )
    except StoreError:
        engine.dispose()
        raise
    except DBAPIError as exc:
        engine.dispose()
        raise _open_failed(exc, where) from exc
    return engine, url


# -- transactions --------------------------------------------------------------------


def is_contention(exc: DBAPIError) -> bool:
    """Lock contention (SQLite busy, PostgreSQL serialization failure or deadlock): retry."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in ("40001", "40P01"):  # serialization / deadlock
        return True
    msg = str(orig).lower()
    return "database is locked" in msg or "database is busy" in msg or "database table is locked" in msg


# admin shutdown, crash shutdown, cannot connect now (starting up or shutting down)
_SERVER_GONE = ("57P01", "57P02", "57P03")
_GONE_WORDS = (
    "connection refused",
    "server closed the connection",
    "connection failed",
    "could not connect",
    "terminating connection",
    "the database system is",
    "connection is closed",
    "connection already closed",
    "connection is lost",
    "ssl connection has been closed",
)


def is_disconnect(exc: DBAPIError) -> bool:
    """The database server went away or cannot take connections yet (a restart): retry."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or ""
    if state.startswith("08") or state in _SERVER_GONE:
        return True
    msg = str(orig).lower()
    return any(words in msg for words in _GONE_WORDS)


def retrying(fn: Callable[..., T]) -> Callable[..., T]:
    """Retry a whole transaction (a Store method) on lock contention and on a lost server
    connection (a PostgreSQL restart); turn DB errors into StoreError.

    A write retried after the connection broke during its commit could be written twice;
    the search loop writes through `WriteBatch`, whose retry checks that first."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        while True:
            try:
                return fn(self, *args, **kwargs)
            except IntegrityError as exc:
                raise StoreError(f"{fn.__name__}: rejected by the database: {one_line(exc, with_type=False)}") from exc
            except DBAPIError as exc:
                lost = is_disconnect(exc)
                if not (lost or is_contention(exc)):
                    raise StoreError(f"{fn.__name__} on {self.where}: {one_line(exc, with_type=False)}") from exc
                if time.monotonic() >= deadline:
                    problem = "stayed out of reach" if lost else "stayed locked"
                    raise StoreError(
                        f"{fn.__name__}: {self.where} {problem} for "
                        f"{self.retry_seconds:.0f} s: {one_line(exc, with_type=False)}"
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0 if not lost else 2.0)

    return wrapper
