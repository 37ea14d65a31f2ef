"""Scenario fixtures: the whole bot on 127.0.0.1 with roles for a requester, approvers and an admin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.stack import LocalStack
from storage import roles
from storage.models import Role

CHANNEL = "C0456EFGH"
AGENT, APPROVER, APPROVER_2, ADMIN, STRANGER = "U0AGENT01", "U0APPROV1", "U0APPROV2", "U0ADMIN01", "U0NOBODY1"


def grant_defaults(stack: LocalStack) -> None:
    with stack.services.database.write() as db:
        for user, role in (
            (AGENT, Role.REQUESTER),
            (APPROVER, Role.APPROVER),
            (APPROVER_2, Role.APPROVER),
            (ADMIN, Role.ADMIN),
        ):
            roles.grant(db, user_id=user, role=role, actor="cli:test")


@pytest.fixture
def make_stack(sqlite_url: str) -> Iterator[Any]:
    stacks: list[LocalStack] = []

    def make(**kwargs: Any) -> LocalStack:
        stack = LocalStack(sqlite_url, **kwargs)
        grant_defaults(stack)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def stack(make_stack: Any) -> LocalStack:
    return make_stack()  # type: ignore[no-any-return]
