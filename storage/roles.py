"""Role assignments keyed by Slack user id; every change is an audit event in the same transaction."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, exists, insert, select

from storage import audit
from storage.database import load, table
from storage.errors import RoleError
from storage.models import Role, RoleAssignment

# Slack user ids: U (or W on Enterprise Grid) followed by upper-case letters and digits.
USER_ID_PATTERN = re.compile(r"^[UW][A-Z0-9]{5,20}$")
USER_ID_HINT = "a Slack user id looks like U012AB3CD (U or W, then capital letters and digits)"

_roles = table(RoleAssignment)
_ROLES_OF = select(_roles.c.role).where(_roles.c.user_id == bindparam("user_id"))


def roles_including(needed: Role) -> list[str]:
    """The stored role names that allow what `needed` allows (admin > approver > requester)."""
    return [role.value for role in Role if role.includes(needed)]


def holds_role(user_id: Any, roles: Any) -> ColumnElement[bool]:
    """A condition, for use inside a deciding statement, that `user_id` holds one of `roles` at that moment."""
    return exists().where(_roles.c.user_id == user_id, _roles.c.role.in_(roles))


def validate_user_id(raw: str) -> str:
    if not USER_ID_PATTERN.fullmatch(raw):
        raise RoleError(f"{raw!r} is not a Slack user id: {USER_ID_HINT}")
    return raw


def parse_role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise RoleError(f"{raw!r} is not a role: use one of {names}") from None


def roles_of(db: Connection, user_id: str) -> set[Role]:
    return {Role(role) for role in db.execute(_ROLES_OF, {"user_id": user_id}).scalars()}


def has_role(db: Connection, user_id: str, needed: Role, *, hold: bool = False) -> bool:
    """True when any of the user's roles includes `needed` (admin > approver > requester). With `hold`, the role
    rows stay locked against a revoke until the caller's transaction ends (PostgreSQL; SQLite's one writer at a
    time does the same)."""
    query = _ROLES_OF.with_for_update(read=True) if hold else _ROLES_OF
    return any(Role(role).includes(needed) for role in db.execute(query, {"user_id": user_id}).scalars())


def grant(db: Connection, *, user_id: str, role: Role, actor: str) -> bool:
    """Give `user_id` the role; False (and no event) when they already had it."""
    validate_user_id(user_id)
    if role in roles_of(db, user_id):
        return False
    db.execute(insert(_roles).values(user_id=user_id, role=role.value, granted_by=actor, granted_at=audit.utcnow()))
    audit.append(db, actor=actor, action="role.granted", detail={"user_id": user_id, "role": role.value})
    return True


def revoke(db: Connection, *, user_id: str, role: Role, actor: str) -> bool:
    """Take the role away; False (and no event) when they did not have it. The last admin stays."""
    validate_user_id(user_id)
    if role not in roles_of(db, user_id):
        return False
    if role is Role.ADMIN and len(holders(db, Role.ADMIN, lock=True)) <= 1:
        raise RoleError("cannot remove the last admin: grant admin to someone else first")
    db.execute(delete(_roles).where(_roles.c.user_id == user_id, _roles.c.role == role.value))
    audit.append(db, actor=actor, action="role.revoked", detail={"user_id": user_id, "role": role.value})
    return True


def holders(db: Connection, role: Role, *, lock: bool = False) -> list[str]:
    """Who has the role. `lock` holds their rows until commit, so two revokes cannot both see two admins."""
    query = select(_roles.c.user_id).where(_roles.c.role == role.value)
    if lock:
        query = query.with_for_update()
    return sorted(db.execute(query).scalars())


def list_all(db: Connection) -> list[RoleAssignment]:
    return load(RoleAssignment, db.execute(select(_roles).order_by(_roles.c.user_id, _roles.c.role)))
