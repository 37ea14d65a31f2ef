"""Role grants that need a second admin: pending -> confirmed | declined | expired, by conditional UPDATE."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from storage import audit, roles
from storage.database import load, table
from storage.errors import IllegalTransition
from storage.models import GrantStatus, Role, RoleGrant

G = GrantStatus
PREFIX = "RG-"
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
FINAL = frozenset({G.CONFIRMED, G.DECLINED, G.EXPIRED})

_grants = table(RoleGrant)


def looks_like_grant_id(text: str) -> bool:
    body = text.upper().removeprefix(PREFIX)
    return text.upper().startswith(PREFIX) and len(body) == 8 and all(c in _ALPHABET for c in body)


@dataclass(frozen=True)
class GrantDecision:
    won: bool
    grant: RoleGrant


REVOKE = "revoke"


def propose(
    db: Connection,
    *,
    user_id: str,
    role: Role,
    requested_by: str,
    channel: str,
    expires_at: datetime,
    change: str = "grant",
) -> RoleGrant:
    """A change that waits for a second admin: giving `role`, or (`change="revoke"`) taking it away."""
    roles.validate_user_id(user_id)
    grant = RoleGrant(
        id=PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(8)),
        user_id=user_id,
        role=role.value,
        requested_by=requested_by,
        channel=channel,
        status=G.PENDING,
        created_at=audit.utcnow(),
        expires_at=expires_at,
        change=change,
    )
    db.execute(insert(_grants).values(grant.model_dump()))
    audit.append(
        db,
        actor=requested_by,
        action="role.grant_proposed",
        detail={"grant_id": grant.id, "user_id": user_id, "role": role.value, "change": change},
    )
    return grant


def get(db: Connection, grant_id: str) -> RoleGrant | None:
    if not looks_like_grant_id(grant_id):
        return None
    found = load(RoleGrant, db.execute(select(_grants).where(_grants.c.id == grant_id.upper())))
    return found[0] if found else None


def decide(
    db: Connection,
    grant_id: str,
    *,
    target: GrantStatus,
    actor: str,
    now: datetime,
) -> GrantDecision:
    """pending -> target if still pending (and not yet due, or due for an expiry); a confirmation also grants the
    role, in the same transaction."""
    if target not in FINAL:
        raise IllegalTransition(f"a role grant cannot go from pending to {target}")
    statement = update(_grants).where(_grants.c.id == grant_id, _grants.c.status == G.PENDING.value)
    if target is G.EXPIRED:
        statement = statement.where(_grants.c.expires_at <= now)
    else:
        # Decided by an admin who still is one when the update runs.
        statement = statement.where(
            _grants.c.expires_at > now, roles.holds_role(actor, roles.roles_including(Role.ADMIN))
        )
    values: dict[str, Any] = {"status": target.value, "decided_at": now}
    if target is not G.EXPIRED:
        values["decided_by"] = actor
    won = db.execute(statement.values(**values)).rowcount == 1
    grant = get(db, grant_id)
    assert grant is not None
    if won:
        audit.append(
            db,
            actor=actor,
            action=f"role.grant_{target.value}",
            detail={"grant_id": grant.id, "user_id": grant.user_id, "role": grant.role, "change": grant.change},
        )
        if target is G.CONFIRMED and grant.change == REVOKE:
            roles.revoke(db, user_id=grant.user_id, role=Role(grant.role), actor=actor)  # the last admin stays
        elif target is G.CONFIRMED:
            roles.grant(db, user_id=grant.user_id, role=Role(grant.role), actor=actor)
    return GrantDecision(won, grant)


def set_card(db: Connection, grant_id: str, *, card_ts: str) -> None:
    db.execute(update(_grants).where(_grants.c.id == grant_id).values(card_ts=card_ts))


def due(db: Connection, now: datetime) -> list[RoleGrant]:
    query = select(_grants).where(_grants.c.status == G.PENDING.value, _grants.c.expires_at <= now)
    return load(RoleGrant, db.execute(query))
