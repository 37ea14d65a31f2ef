"""The engine and the one way in (Core connections in a transaction): SQLite tuned for many threads, or PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: processes meet on SQLite's busy timeout only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool
from sqlmodel import SQLModel, create_engine

from storage.errors import DatabaseBusy
from storage.sql_functions import database_sha256_hex, sha256_hex

Model = TypeVar("Model", bound=SQLModel)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Another process's writes take about a millisecond: poll its lock file often, then less often.
FILE_POLL_MIN_SECONDS = 0.0002
FILE_POLL_MAX_SECONDS = 0.005
# A PostgreSQL connection back in the pool for longer than this is pinged before it is used again (a server restart
# or an idle timeout may have closed it); one used just now is not, which spares a round trip per transaction.
PING_IF_IDLE_SECONDS = 2.0


def with_installed_driver(url: str) -> str:
    """`url` naming the installed PostgreSQL driver, psycopg2: SQLAlchemy reads a bare `postgresql://` as psycopg (3)
    from 2.1 on, and earlier releases of this project documented `postgresql+psycopg://`."""
    for form in ("postgresql://", "postgresql+psycopg://"):
        if url.startswith(form):
            return "postgresql+psycopg2://" + url.removeprefix(form)
    return url


def make_engine(
    url: str, *, pool_size: int = 10, ping_if_idle: float = PING_IF_IDLE_SECONDS, autocommit: bool = False
) -> Engine:
    """Build an engine for `url`, with the per-dialect settings that make concurrent writers safe. With
    `autocommit` (PostgreSQL), every connection of its pool stays in autocommit: for reads only."""
    url = with_installed_driver(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Each checkout has its connection to itself; keeping them open saves a connect and the
            # PRAGMAs per transaction.
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
            # Statements carry reasons, emails and ids: errors and logs name the statement, never the values.
            hide_parameters=True,
        )
        _tune_sqlite(engine)
        return engine
    if autocommit:
        # Set once per connection, never switched back: a pool shared with the writers would switch each
        # connection in and out of autocommit at every checkout. No transaction is ever open to reset on return.
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            hide_parameters=True,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    _ping_when_idle(engine, ping_if_idle)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections that sat idle, through the pool's documented events: a
    failed ping raises DisconnectionError, and the pool replaces the connection (up to three tries) before the
    checkout returns. `pool_pre_ping` would ping at every checkout: a round trip for each of the many short
    transactions a click runs, while a connection that was in use a moment ago is alive."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # new (just connected) or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection no longer answers") from exc


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions start (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The audit chain's hash, computed inside the statement that appends an event (storage.audit).
        dbapi_connection.create_function(database_sha256_hex.name, 1, sha256_hex, deterministic=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class WriterLock:
    """One SQLite writer at a time, handed over at once: threads of this process queue on a lock, processes on a
    lock file beside the database. SQLite's own busy handler makes waiting writers sleep in growing steps (up to
    100 ms); threads here never sleep, and a process whose file lock is taken by another polls it in steps of at
    most FILE_POLL_MAX_SECONDS. Like SQLite's busy timeout, a writer that waits longer than `timeout` gives up with
    DatabaseBusy, so one writer that hangs cannot stall every other for ever. Winners of a decision are still
    settled by conditional updates, not by this."""

    def __init__(self, path: Path | None, *, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
        self._path = path
        self._timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0

    def __enter__(self) -> None:
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise DatabaseBusy(f"no turn to write to the database within {self._timeout:.0f} s")
        try:
            fd = self._file()
            if fd is not None:
                _lock_file(fd, deadline, self._timeout)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int | None:
        if self._path is None or fcntl is None:
            return None
        if self._fd is None or self._fd_pid != os.getpid():
            # A forked child opens its own: a lock on an inherited descriptor would be shared with the parent.
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._fd_pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _lock_file(fd: int, deadline: float, timeout: float) -> None:
    pause = FILE_POLL_MIN_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DatabaseBusy(f"another process kept the database's write lock for over {timeout:.0f} s") from None
            time.sleep(pause)
            pause = min(pause * 2, FILE_POLL_MAX_SECONDS)


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class Database:
    """The one way into the database: a SQLAlchemy Core connection from `write()` (one transaction, committed when
    the block ends normally and rolled back otherwise), `alone()` (writes that each commit by themselves) or
    `read()`."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        # Reads, and the writes that stand alone, run on PostgreSQL on a pool of its own in autocommit: no BEGIN and
        # COMMIT round trips around them. SQLite's driver opens no transaction by itself either (see _tune_sqlite).
        self._autocommit_engine = (
            self.engine if is_sqlite(self.engine) else make_engine(url, pool_size=pool_size, autocommit=True)
        )
        self._writer: WriterLock | None = None
        if is_sqlite(self.engine):
            path = _sqlite_file(url)
            self._writer = WriterLock(path.with_name(path.name + "-writer.lock") if path else None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write: on SQLite it queues for the one writer and takes the write lock at once."""
        with self._writing(), self.engine.begin() as connection:
            if self._writer is not None:
                # IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction never fails half-way
                # with "database is locked". Sent to the driver directly (the driver leaves transactions to us,
                # see _tune_sqlite): an engine event would make SQLAlchemy dispatch events on every statement.
                driver = connection.connection.driver_connection
                assert driver is not None, "a checked-out connection has its driver connection"
                driver.execute("BEGIN IMMEDIATE")
            yield connection

    @contextmanager
    def alone(self) -> Iterator[Connection]:
        """Writes each of which stands alone. On PostgreSQL every statement commits by itself: no BEGIN and COMMIT
        round trips, and a lock a statement takes (a request's row, the audit chain's tip) is released as soon as the
        server has run it, not after this process has come back to commit. On SQLite, where writers take turns
        anyway, it is a write(). Statements that must commit together use write()."""
        if self._writer is not None:
            with self.write() as connection:
                yield connection
            return
        with self._autocommit_engine.connect() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads only, each statement seeing what is committed when it runs: no transaction is opened (on SQLite in
        WAL mode a read never waits for a writer), which spares the BEGIN and COMMIT every click would pay several
        times."""
        with self._autocommit_engine.connect() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit_engine is not self.engine:
            self._autocommit_engine.dispose()
        if self._writer is not None:
            self._writer.close()

    def __repr__(self) -> str:
        # The URL may carry a password.
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"


def load(model: type[Model], rows: Iterable[Any]) -> list[Model]:
    """Rows of a Core select over the model's table, as model instances. The values come typed from the columns
    (trusted data), so they are not validated again: pydantic's model_construct, about a tenth of the cost of
    the model's __init__, which every click pays several times."""
    return [model.model_construct(**row._mapping) for row in rows]


def table(model: type[SQLModel]) -> Table:
    """The Core table of a table model."""
    return model.__table__  # type: ignore[attr-defined]
