"""Admin use cases: roles from Slack (approver and admin grants need a second admin), audit look-ups, exports.

No Slack here. Authorization is checked at the listener and again here, as for requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import audit, grants, roles
from storage.database import Database
from storage.errors import RoleError
from storage.models import AuditEvent, GrantStatus, Role, RoleAssignment, RoleGrant

# Requester is low-risk and immediate; these need a second admin's confirmation.
NEEDS_SECOND_ADMIN = frozenset({Role.APPROVER, Role.ADMIN})


@dataclass(frozen=True)
class RoleChange:
    """What a role command did: `changed` (granted or revoked now), `proposed` (waits for a second admin),
    `unchanged` (nothing to do), or `refused` (with the reason in `message`)."""

    kind: str
    message: str
    grant: RoleGrant | None = None


class Admin:
    def __init__(self, *, database: Database, grant_ttl: timedelta, clock: Callable[[], datetime] = audit.utcnow):
        self.database = database
        self.grant_ttl = grant_ttl
        self.clock = clock

    def is_admin(self, user: str) -> bool:
        with self.database.reader() as session:
            return roles.has_role(session, user, Role.ADMIN)

    def list_roles(self) -> list[RoleAssignment]:
        with self.database.reader() as session:
            return roles.list_all(session)

    def grant(self, *, actor: str, user_id: str, role: Role, channel: str) -> RoleChange:
        if not self.is_admin(actor):
            return RoleChange("refused", "Only admins can change roles.")
        try:
            roles.validate_user_id(user_id)
        except RoleError as exc:
            return RoleChange("refused", str(exc))
        with self.database.session() as session:
            if role in roles.roles_of(session, user_id):
                return RoleChange("unchanged", f"<@{user_id}> already has the {role} role.")
            if role not in NEEDS_SECOND_ADMIN:
                roles.grant(session, user_id=user_id, role=role, actor=actor)
                return RoleChange("changed", f"<@{actor}> granted the {role} role to <@{user_id}>.")
            proposed = grants.propose(
                session,
                user_id=user_id,
                role=role,
                requested_by=actor,
                channel=channel,
                expires_at=self.clock() + self.grant_ttl,
            )
        return RoleChange(
            "proposed", f"<@{actor}> proposes the {role} role for <@{user_id}>; another admin must confirm.", proposed
        )

    def revoke(self, *, actor: str, user_id: str, role: Role) -> RoleChange:
        if not self.is_admin(actor):
            return RoleChange("refused", "Only admins can change roles.")
        try:
            with self.database.session() as session:
                changed = roles.revoke(session, user_id=user_id, role=role, actor=actor)
        except RoleError as exc:
            return RoleChange("refused", str(exc))
        if not changed:
            return RoleChange("unchanged", f"<@{user_id}> does not have the {role} role.")
        return RoleChange("changed", f"<@{actor}> revoked the {role} role from <@{user_id}>.")

    def card_posted(self, grant_id: str, *, card_ts: str) -> None:
        with self.database.session() as session:
            grants.set_card(session, grant_id, card_ts=card_ts)

    def decide(self, grant_id: str, *, actor: str, confirm: bool) -> RoleChange:
        """Confirm (a different admin) or decline (any admin) a proposed grant; exactly one decision wins."""
        with self.database.reader() as session:
            grant = grants.get(session, grant_id)
        if grant is None:
            return RoleChange("refused", "That role change does not exist.")
        if not self.is_admin(actor):
            return RoleChange("refused", "Only admins can confirm or decline role changes.", grant)
        if confirm and actor == grant.requested_by:
            with self.database.session() as session:
                audit.append(
                    session,
                    actor=actor,
                    action="role.grant_refused",
                    detail={"grant_id": grant.id, "why": "self_confirmation"},
                )
            return RoleChange("refused", "You proposed this change, so another admin has to confirm it.", grant)
        target = GrantStatus.CONFIRMED if confirm else GrantStatus.DECLINED
        with self.database.session() as session:
            decision = grants.decide(session, grant.id, target=target, actor=actor, now=self.clock())
        decided = decision.grant
        if not decision.won:
            self.expire_due()
            with self.database.reader() as session:
                decided = grants.get(session, grant.id) or decided
            return RoleChange(
                "refused",
                f"Too late: this role change is already {decided.status}"
                + (f" by <@{decided.decided_by}>." if decided.decided_by else "."),
                decided,
            )
        if confirm:
            return RoleChange(
                "changed", f"<@{actor}> confirmed: <@{decided.user_id}> now has the {decided.role} role.", decided
            )
        return RoleChange("changed", f"<@{actor}> declined the {decided.role} role for <@{decided.user_id}>.", decided)

    def expire_due(self) -> list[RoleGrant]:
        now = self.clock()
        expired = []
        with self.database.session() as session:
            for grant in grants.due(session, now):
                decision = grants.decide(session, grant.id, target=GrantStatus.EXPIRED, actor="system", now=now)
                if decision.won:
                    expired.append(decision.grant)
        return expired

    def lookup(self, target: str, *, since: datetime | None) -> tuple[str, list[AuditEvent]]:
        """Audit events for a request id, a user (<@U…>) or a subscription id; the label says which."""
        from storage import requests

        with self.database.reader() as session:
            if requests.looks_like_request_id(target):
                events = [
                    e for e in audit.events_for_request(session, target.upper()) if since is None or e.time >= since
                ]
                return f"request {target.upper()}", events
            user = mentioned_user(target)
            if user is not None:
                return f"<@{user}>", audit.events_by_actor(session, user, since=since)
            return f"subscription `{target}`", audit.events_for_subscription(session, target, since=since)


def mentioned_user(text: str) -> str | None:
    """The user id in an escaped mention (<@U123|name>, <@U123>) or a bare id; None otherwise."""
    value = text.strip()
    if value.startswith("<@") and value.endswith(">"):
        value = value[2:-1].split("|", 1)[0]
    try:
        return roles.validate_user_id(value)
    except RoleError:
        return None
