"""Plain SQL on a pooled DB-API connection, for the small statements every click runs several of.

A statement through an ORM session costs about a quarter of a millisecond (session, checkout, compile-cache lookup,
result wrapping); the same statement on the driver's cursor costs a few hundredths. Statements here are written
once with `:name` parameters and turned into the driver's own style. Datetimes are bound, and rows are read into
table models, through the models' own column types for the dialect, so both paths store, compare and give back the
same values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from storage.models import AuditEvent

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

Row = tuple[Any, ...]
Model = TypeVar("Model", bound=SQLModel)
# Every datetime column has the type the models give it (aware UTC in, aware UTC out): bind and read through it.
_TIME: Any = AuditEvent.__table__.c.time.type  # type: ignore[attr-defined]


class Statement:
    """One SQL text with `:name` parameters, kept in each driver style it has been run with."""

    def __init__(self, sql: str) -> None:
        self.sql = " ".join(sql.split())
        self._styled: dict[str, str] = {}

    def styled(self, paramstyle: str) -> str:
        text = self._styled.get(paramstyle)
        if text is None:
            text = _restyle(self.sql, paramstyle)
            self._styled[paramstyle] = text
        return text

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"


@lru_cache(maxsize=256)
def statement(sql: str) -> Statement:
    """The Statement for SQL built at run time from a few known shapes (kept, so each is restyled once)."""
    return Statement(sql)


def columns(model: type[SQLModel]) -> str:
    """The model's columns, in the order `Plain.load` expects them."""
    return ", ".join(column.name for column in _table(model).columns)


def _table(model: type[SQLModel]) -> Any:
    return model.__table__  # type: ignore[attr-defined]


_READERS: dict[tuple[type[SQLModel], str], list[tuple[str, Callable[[Any], Any] | None]]] = {}


def _readers(model: type[SQLModel], dialect: Dialect) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """Each column's name and how SQLAlchemy turns the driver's value into the model's (None: as it is)."""
    key = (model, dialect.name)
    found = _READERS.get(key)
    if found is None:
        found = [
            (column.name, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in _table(model).columns
        ]
        _READERS[key] = found
    return found


def _restyle(sql: str, paramstyle: str) -> str:
    if paramstyle == "named":  # sqlite3
        return sql
    if paramstyle == "pyformat":  # psycopg
        return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
    raise ValueError(f"plain statements do not support the {paramstyle!r} parameter style")


class Plain:
    """A DB-API cursor inside the caller's transaction, with the dialect's datetime binding."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect
        self.dialect_name = dialect.name
        # sqlite3 takes :name as it is (whatever SQLAlchemy's own choice of style for it).
        self._paramstyle = "named" if dialect.name == "sqlite" else dialect.paramstyle
        moment = _TIME.dialect_impl(dialect)
        self._bind_time = moment.bind_processor(dialect)
        self._read_time = moment.result_processor(dialect, None)

    def run(self, statement: Statement, params: dict[str, Any]) -> int:
        """Execute; returns the number of rows changed (the winner test of a conditional update)."""
        self._execute(statement, params)
        return int(self._cursor.rowcount)

    def one(self, statement: Statement, params: dict[str, Any]) -> Row | None:
        self._execute(statement, params)
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def all(self, statement: Statement, params: dict[str, Any]) -> list[Row]:
        self._execute(statement, params)
        return [tuple(row) for row in self._cursor.fetchall()]

    def scalar(self, statement: Statement, params: dict[str, Any]) -> Any:
        row = self.one(statement, params)
        return None if row is None else row[0]

    def load(self, model: type[Model], statement: Statement, params: dict[str, Any]) -> list[Model]:
        """Rows of a statement that selects `columns(model)`, as model instances (detached, like a closed
        session's)."""
        readers = _readers(model, self._dialect)
        return [
            model(
                **{
                    name: value if read is None else read(value)
                    for (name, read), value in zip(readers, row, strict=True)
                }
            )
            for row in self.all(statement, params)
        ]

    def time(self, stored: Any) -> datetime:
        """A datetime column's value as SQLAlchemy would give it back (SQLite stores text)."""
        moment = self._read_time(stored) if self._read_time is not None else stored
        assert isinstance(moment, datetime), f"not a stored datetime: {moment!r}"
        return moment

    def _execute(self, statement: Statement, params: dict[str, Any]) -> None:
        if self._bind_time is not None:
            params = {k: self._bind_time(v) if isinstance(v, datetime) else v for k, v in params.items()}
        try:
            self._cursor.execute(statement.styled(self._paramstyle), params)
        except self._dialect.loaded_dbapi.Error as exc:
            # The same exceptions as SQLAlchemy raises (IntegrityError for a duplicate, ...), values left out.
            raise DBAPIError.instance(
                statement.sql, None, exc, self._dialect.loaded_dbapi.Error, hide_parameters=True, dialect=self._dialect
            ) from exc


def on(db: Session | Plain) -> Plain:
    """Plain statements in `db`'s transaction: a session's own connection, or a plain block as it is."""
    if isinstance(db, Plain):
        return db
    connection = db.connection()
    return Plain(connection.connection.cursor(), connection.dialect)
