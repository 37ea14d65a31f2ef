"""Role grants that need a second admin: pending -> confirmed | declined | expired, by conditional UPDATE."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage import audit, roles
from storage.errors import IllegalTransition
from storage.models import GrantStatus, Role, RoleGrant

G = GrantStatus
PREFIX = "RG-"
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
FINAL = frozenset({G.CONFIRMED, G.DECLINED, G.EXPIRED})


def looks_like_grant_id(text: str) -> bool:
    body = text.upper().removeprefix(PREFIX)
    return text.upper().startswith(PREFIX) and len(body) == 8 and all(c in _ALPHABET for c in body)


@dataclass(frozen=True)
class GrantDecision:
    won: bool
    grant: RoleGrant


def propose(
    session: Session, *, user_id: str, role: Role, requested_by: str, channel: str, expires_at: datetime
) -> RoleGrant:
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
    )
    session.add(grant)
    session.flush()
    audit.append(
        session,
        actor=requested_by,
        action="role.grant_proposed",
        detail={"grant_id": grant.id, "user_id": user_id, "role": role.value},
    )
    return grant


def get(session: Session, grant_id: str) -> RoleGrant | None:
    return session.get(RoleGrant, grant_id.upper()) if looks_like_grant_id(grant_id) else None


def decide(
    session: Session,
    grant_id: str,
    *,
    target: GrantStatus,
    actor: str,
    now: datetime,
    only_unexpired: bool = True,
) -> GrantDecision:
    """pending -> target if still pending; a confirmation also grants the role, in the same transaction."""
    if target not in FINAL:
        raise IllegalTransition(f"a role grant cannot go from pending to {target}")
    statement = update(RoleGrant).where(col(RoleGrant.id) == grant_id, col(RoleGrant.status) == G.PENDING.value)
    if only_unexpired and target is not G.EXPIRED:
        statement = statement.where(col(RoleGrant.expires_at) > now)
    if target is G.EXPIRED:
        statement = statement.where(col(RoleGrant.expires_at) <= now)
    values: dict[str, Any] = {"status": target.value, "decided_at": now}
    if target is not G.EXPIRED:
        values["decided_by"] = actor
    won = session.execute(statement.values(**values).execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]
    session.expire_all()
    grant = session.get(RoleGrant, grant_id)
    assert grant is not None
    if won:
        audit.append(
            session,
            actor=actor,
            action=f"role.grant_{target.value}",
            detail={"grant_id": grant.id, "user_id": grant.user_id, "role": grant.role},
        )
        if target is G.CONFIRMED:
            roles.grant(session, user_id=grant.user_id, role=Role(grant.role), actor=actor)
    return GrantDecision(won, grant)


def set_card(session: Session, grant_id: str, *, card_ts: str) -> None:
    session.execute(update(RoleGrant).where(col(RoleGrant.id) == grant_id).values(card_ts=card_ts))


def due(session: Session, now: datetime) -> list[RoleGrant]:
    query = select(RoleGrant).where(RoleGrant.status == G.PENDING.value, col(RoleGrant.expires_at) <= now)
    return list(session.exec(query).all())


def pending(session: Session) -> list[RoleGrant]:
    return list(session.exec(select(RoleGrant).where(RoleGrant.status == G.PENDING.value)).all())
