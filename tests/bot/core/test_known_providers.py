"""Routing a click to its provider: a request's provider is read at most once per process, never for a request this
process made, and an unknown id is asked about every time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from bot.core import asking, reads
from bot.core.asking import Ask
from bot.core.context import Core
from bot.core.known_providers import KnownProviders
from providers.registry import Registry
from providers.sandbox import SandboxProvider
from storage import roles
from storage.database import Database
from storage.models import Role

ASKER = "U0ASKER01"


@pytest.fixture
def registry(sqlite_database: Database) -> Registry:
    with sqlite_database.write() as db:
        roles.grant(db, user_id=ASKER, role=Role.REQUESTER, actor="cli:test")
    return Registry({"sandbox": SandboxProvider()})


@pytest.fixture
def statements(sqlite_database: Database) -> Iterator[list[str]]:
    """Every statement the database is sent, from the moment the fixture is used."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(sqlite_database.engine, "before_cursor_execute", record)
    yield seen
    event.remove(sqlite_database.engine, "before_cursor_execute", record)


def test_the_oldest_is_forgotten_beyond_capacity() -> None:
    known = KnownProviders(capacity=2)
    for request_id, provider in (("CR-AAAAAAAA", "onekey"), ("CR-BBBBBBBB", "kajabi"), ("CR-CCCCCCCC", "sandbox")):
        known.remember(request_id, provider)
    assert known.get("CR-AAAAAAAA") is None
    assert (known.get("CR-BBBBBBBB"), known.get("CR-CCCCCCCC")) == ("kajabi", "sandbox")


def test_a_request_made_here_is_routed_without_a_read(
    sqlite_database: Database, registry: Registry, statements: list[str]
) -> None:
    core = Core(database=sqlite_database, registry=registry)
    made = asking.request(core, Ask(ASKER, "sandbox", "sb_1001", "customer asked", "C0CHANNEL"))
    assert made.ok and made.request is not None
    statements.clear()
    assert reads.provider_of(core, made.request.id.lower()) == "sandbox"
    assert statements == []


def test_another_process_reads_a_request_once_and_an_unknown_id_every_time(
    sqlite_database: Database, registry: Registry, statements: list[str]
) -> None:
    made = asking.request(
        Core(database=sqlite_database, registry=registry), Ask(ASKER, "sandbox", "sb_1001", "asked", "C0CHANNEL")
    )
    assert made.ok and made.request is not None
    elsewhere = Core(database=sqlite_database, registry=registry)
    statements.clear()
    assert [reads.provider_of(elsewhere, made.request.id) for _ in range(3)] == ["sandbox"] * 3
    assert len(statements) == 1
    assert [reads.provider_of(elsewhere, "CR-ZZZZZZZZ") for _ in range(2)] == [None, None]
    assert len(statements) == 3
