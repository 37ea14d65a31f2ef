"""Role assignments keyed by Slack user id; every change is an audit event in the same transaction."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from storage import audit, plain
from storage.errors import RoleError
from storage.models import Role, RoleAssignment
from storage.plain import Plain, Statement

# Slack user ids: U (or W on Enterprise Grid) followed by upper-case letters and digits.
USER_ID_PATTERN = re.compile(r"^[UW][A-Z0-9]{5,20}$")
USER_ID_HINT = "a Slack user id looks like U012AB3CD (U or W, then capital letters and digits)"


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


# Most Slack requests ask this before their ack: a plain statement, built once.
_ROLES_OF = Statement("SELECT role FROM role_assignments WHERE user_id = :user_id")


def roles_of(db: Session | Plain, user_id: str) -> set[Role]:
    return {Role(row[0]) for row in plain.on(db).all(_ROLES_OF, {"user_id": user_id})}


def has_role(db: Session | Plain, user_id: str, needed: Role) -> bool:
    """True when any of the user's roles includes `needed` (admin > approver > requester)."""
    return any(role.includes(needed) for role in roles_of(db, user_id))


def grant(session: Session, *, user_id: str, role: Role, actor: str) -> bool:
    """Give `user_id` the role; False (and no event) when they already had it."""
    validate_user_id(user_id)
    if session.get(RoleAssignment, (user_id, role.value)) is not None:
        return False
    session.add(RoleAssignment(user_id=user_id, role=role.value, granted_by=actor, granted_at=audit.utcnow()))
    session.flush()
    audit.append(session, actor=actor, action="role.granted", detail={"user_id": user_id, "role": role.value})
    return True


def revoke(session: Session, *, user_id: str, role: Role, actor: str) -> bool:
    """Take the role away; False (and no event) when they did not have it. The last admin stays."""
    validate_user_id(user_id)
    assignment = session.get(RoleAssignment, (user_id, role.value))
    if assignment is None:
        return False
    if role is Role.ADMIN and len(holders(session, Role.ADMIN, lock=True)) <= 1:
        raise RoleError("cannot remove the last admin: grant admin to someone else first")
    session.delete(assignment)
    session.flush()
    audit.append(session, actor=actor, action="role.revoked", detail={"user_id": user_id, "role": role.value})
    return True


def holders(session: Session, role: Role, *, lock: bool = False) -> list[str]:
    """Who has the role. `lock` holds their rows until commit, so two revokes cannot both see two admins."""
    query = select(RoleAssignment.user_id).where(RoleAssignment.role == role.value)
    if lock:
        query = query.with_for_update()
    return sorted(session.exec(query).all())


def list_all(session: Session) -> list[RoleAssignment]:
    query = select(RoleAssignment).order_by(col(RoleAssignment.user_id), col(RoleAssignment.role))
    return list(session.exec(query).all())
