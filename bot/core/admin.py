"""Roles from Slack (approver and admin grants need a second admin) and audit look-ups; the admin role is
checked here again, whatever the listener checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.core import access
from bot.core.context import Core
from storage import audit, chain, grants, requests, roles
from storage.errors import RoleError
from storage.models import AuditEvent, GrantStatus, Role, RoleAssignment, RoleGrant

# Requester is low-risk and immediate; these need a second admin's confirmation.
NEEDS_SECOND_ADMIN = frozenset({Role.APPROVER, Role.ADMIN})


class Change(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    PROPOSED = "proposed"  # waits for a second admin
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    UNCHANGED = "unchanged"  # nothing to do
    REFUSED = "refused"


class RoleRefusal(StrEnum):
    NOT_ADMIN = "not_admin"
    INVALID = "invalid"  # a bad user id or role; `detail` says which
    LAST_ADMIN = "last_admin"
    NO_SUCH_GRANT = "no_such_grant"
    SELF_CONFIRMATION = "self_confirmation"
    TOO_LATE = "too_late"


@dataclass(frozen=True)
class RoleChange:
    """What a role command did, as data: who did it, to whom, which role, and the grant card it concerns."""

    change: Change
    actor: str
    user_id: str = ""
    role: Role | None = None
    grant: RoleGrant | None = None
    refusal: RoleRefusal | None = None
    detail: str = ""
    revoking: bool = False  # UNCHANGED: the user did not have the role (instead of: had it already)


def _refused(actor: str, refusal: RoleRefusal, *, grant: RoleGrant | None = None, detail: str = "") -> RoleChange:
    return RoleChange(Change.REFUSED, actor, refusal=refusal, grant=grant, detail=detail)


def list_roles(core: Core) -> list[RoleAssignment]:
    with core.database.read() as db:
        return roles.list_all(db)


def is_user_id(text: str) -> bool:
    """Whether `text` is shaped like a Slack user id (U or W, then capitals and digits)."""
    return roles.USER_ID_PATTERN.fullmatch(text) is not None


def grant(core: Core, *, actor: str, user_id: str, role_name: str, channel: str) -> RoleChange:
    if not access.has_role(core, actor, Role.ADMIN):
        return _refused(actor, RoleRefusal.NOT_ADMIN)
    try:
        roles.validate_user_id(user_id)
        role = roles.parse_role(role_name)
    except RoleError as exc:
        return _refused(actor, RoleRefusal.INVALID, detail=str(exc))
    with core.database.write() as db:
        if role in roles.roles_of(db, user_id):
            return RoleChange(Change.UNCHANGED, actor, user_id, role)
        if role not in NEEDS_SECOND_ADMIN:
            roles.grant(db, user_id=user_id, role=role, actor=actor)
            return RoleChange(Change.GRANTED, actor, user_id, role)
        proposed = grants.propose(
            db,
            user_id=user_id,
            role=role,
            requested_by=actor,
            channel=channel,
            expires_at=core.clock() + core.policy.request_ttl,
        )
    return RoleChange(Change.PROPOSED, actor, user_id, role, grant=proposed)


def _propose_removal(core: Core, *, actor: str, user_id: str, channel: str) -> RoleChange:
    """Taking the admin role from another admin waits for a second admin: nobody can remove the others alone."""
    with core.database.write() as db:
        if Role.ADMIN not in roles.roles_of(db, user_id):
            return RoleChange(Change.UNCHANGED, actor, user_id, Role.ADMIN, revoking=True)
        proposed = grants.propose(
            db,
            user_id=user_id,
            role=Role.ADMIN,
            requested_by=actor,
            channel=channel,
            expires_at=core.clock() + core.policy.request_ttl,
            change=grants.REVOKE,
        )
    return RoleChange(Change.PROPOSED, actor, user_id, Role.ADMIN, grant=proposed, revoking=True)


def revoke(core: Core, *, actor: str, user_id: str, role_name: str, channel: str) -> RoleChange:
    if not access.has_role(core, actor, Role.ADMIN):
        return _refused(actor, RoleRefusal.NOT_ADMIN)
    try:
        role = roles.parse_role(role_name)
        if role is Role.ADMIN and user_id != actor:
            return _propose_removal(core, actor=actor, user_id=user_id, channel=channel)
        with core.database.write() as db:
            changed = roles.revoke(db, user_id=user_id, role=role, actor=actor)
    except RoleError as exc:
        last_admin = "last admin" in str(exc)
        return _refused(actor, RoleRefusal.LAST_ADMIN if last_admin else RoleRefusal.INVALID, detail=str(exc))
    if not changed:
        return RoleChange(Change.UNCHANGED, actor, user_id, role, revoking=True)
    access.forget_requester(core, user_id)
    return RoleChange(Change.REVOKED, actor, user_id, role)


def grant_card_posted(core: Core, grant_id: str, *, card_ts: str) -> None:
    with core.database.write() as db:
        grants.set_card(db, grant_id, card_ts=card_ts)


def decide_grant(core: Core, grant_id: str, *, actor: str, confirm: bool) -> RoleChange:
    """Confirm (a different admin) or decline (any admin) a proposed grant; exactly one decision wins."""
    with core.database.read() as db:
        proposal = grants.get(db, grant_id)
    if proposal is None:
        return _refused(actor, RoleRefusal.NO_SUCH_GRANT)
    if not access.has_role(core, actor, Role.ADMIN):
        return _refused(actor, RoleRefusal.NOT_ADMIN, grant=proposal)
    if confirm and actor == proposal.requested_by:
        access.audit_refusal(
            core, None, actor, "role.grant_refused", {"grant_id": proposal.id, "why": "self_confirmation"}
        )
        return _refused(actor, RoleRefusal.SELF_CONFIRMATION, grant=proposal)
    target = GrantStatus.CONFIRMED if confirm else GrantStatus.DECLINED
    try:
        with core.database.write() as db:
            decision = grants.decide(db, proposal.id, target=target, actor=actor, now=core.clock())
    except RoleError as exc:  # confirming a removal that would leave no admin: nothing changed
        return _refused(actor, RoleRefusal.LAST_ADMIN, grant=proposal, detail=str(exc))
    decided = decision.grant
    if not decision.won:
        if not access.has_role(core, actor, Role.ADMIN):  # revoked since the check above: the update said no
            return _refused(actor, RoleRefusal.NOT_ADMIN, grant=decided)
        expire_grants(core)
        with core.database.read() as db:
            decided = grants.get(db, proposal.id) or decided
        return _refused(actor, RoleRefusal.TOO_LATE, grant=decided)
    change = Change.CONFIRMED if confirm else Change.DECLINED
    removal = decided.change == grants.REVOKE
    return RoleChange(change, actor, decided.user_id, Role(decided.role), grant=decided, revoking=removal)


def expire_grants(core: Core) -> list[RoleGrant]:
    now = core.clock()
    expired = []
    with core.database.write() as db:
        for due in grants.due(db, now):
            decision = grants.decide(db, due.id, target=GrantStatus.EXPIRED, actor="system", now=now)
            if decision.won:
                expired.append(decision.grant)
    return expired


class AuditSubject(StrEnum):
    REQUEST = "request"
    USER = "user"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class AuditLookup:
    """The latest events for a subject (at most a page of them) and how many there are in all."""

    subject: AuditSubject
    key: str
    events: list[AuditEvent]
    total: int


def audit_lookup(
    core: Core, *, request_id: str | None, user_id: str | None, subscription_id: str, since: datetime | None
) -> AuditLookup:
    """Audit events for a request, a user, or else a subscription id (any provider)."""
    with core.database.read() as db:
        if request_id is not None and requests.looks_like_request_id(request_id):
            key = request_id.upper()
            events = [e for e in audit.events_for_request(db, key) if since is None or e.time >= since]
            return AuditLookup(AuditSubject.REQUEST, key, events, len(events))
        if user_id is not None:
            return AuditLookup(
                AuditSubject.USER,
                user_id,
                audit.events_by_actor(db, user_id, since=since),
                audit.count_by_actor(db, user_id, since=since),
            )
        return AuditLookup(
            AuditSubject.SUBSCRIPTION,
            subscription_id,
            audit.events_for_subscription(db, subscription_id, since=since),
            audit.count_for_subscription(db, subscription_id, since=since),
        )


def export_csv(core: Core, *, since: datetime | None) -> tuple[str, int]:
    """The audit log as CSV text, and how many events it holds."""
    with core.database.read() as db:
        csv_text = audit.export_csv_text(db, since=since)
    return csv_text, max(0, csv_text.count("\n") - 1)


def record_export(core: Core, *, actor: str, events: int, since: datetime | None) -> None:
    access.audit_event(
        core, None, actor, "audit.exported", {"events": events, "since": chain.format_time(since) if since else None}
    )
