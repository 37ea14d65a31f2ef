"""Roles: validated ids, ranked roles, audit events for every change, the last admin kept."""

from __future__ import annotations

import pytest

from storage import audit, roles
from storage.database import Database
from storage.errors import RoleError
from storage.models import Role


@pytest.mark.parametrize("bad", ["bob", "u123abc", "U", "U12", "X123ABC", "U123abc", "U123 ABC", "<@U123ABC>", ""])
def test_bad_user_ids_are_refused_with_what_an_id_looks_like(bad: str) -> None:
    with pytest.raises(RoleError, match="looks like U012AB3CD"):
        roles.validate_user_id(bad)


@pytest.mark.parametrize("good", ["U123ABC", "W0123ABCD", "U0SAM0001"])
def test_good_user_ids_pass(good: str) -> None:
    assert roles.validate_user_id(good) == good


def test_roles_are_ranked() -> None:
    assert Role.ADMIN.includes(Role.APPROVER) and Role.APPROVER.includes(Role.REQUESTER)
    assert not Role.REQUESTER.includes(Role.APPROVER)


def test_grant_and_revoke_are_audited_and_idempotent(sqlite_database: Database) -> None:
    with sqlite_database.write() as db:
        assert roles.grant(db, user_id="U0ALICE1", role=Role.APPROVER, actor="cli:root")
        assert not roles.grant(db, user_id="U0ALICE1", role=Role.APPROVER, actor="cli:root")
        assert roles.has_role(db, "U0ALICE1", Role.REQUESTER)
        assert not roles.has_role(db, "U0ALICE1", Role.ADMIN)
        assert roles.revoke(db, user_id="U0ALICE1", role=Role.APPROVER, actor="cli:root")
        assert not roles.revoke(db, user_id="U0ALICE1", role=Role.APPROVER, actor="cli:root")
        actions = [(e.action, e.actor) for e in audit.events_by_actor(db, "cli:root")]
    assert actions == [("role.granted", "cli:root"), ("role.revoked", "cli:root")]


def test_the_last_admin_cannot_be_removed(sqlite_database: Database) -> None:
    with sqlite_database.write() as db:
        roles.grant(db, user_id="U0ADMIN1", role=Role.ADMIN, actor="cli:root")
    with sqlite_database.write() as db, pytest.raises(RoleError, match="last admin"):
        roles.revoke(db, user_id="U0ADMIN1", role=Role.ADMIN, actor="cli:root")
    with sqlite_database.write() as db:
        roles.grant(db, user_id="U0ADMIN2", role=Role.ADMIN, actor="cli:root")
        assert roles.revoke(db, user_id="U0ADMIN1", role=Role.ADMIN, actor="cli:root")
        assert roles.holders(db, Role.ADMIN) == ["U0ADMIN2"]


def test_parse_role_names_the_choices() -> None:
    assert roles.parse_role(" Approver ") is Role.APPROVER
    with pytest.raises(RoleError, match="requester, approver, admin"):
        roles.parse_role("owner")
