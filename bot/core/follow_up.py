"""Requests left waiting for a decision: the approvers reminded, then the admins told, each once per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.context import Core
from storage import requests, roles
from storage.models import CancellationRequest, Role

# At most this many approvers are named in one reminder (a user group, when set, names them all).
MENTIONS = 30


@dataclass(frozen=True)
class FollowUps:
    reminded: list[CancellationRequest] = field(default_factory=list)
    escalated: list[CancellationRequest] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)  # who hears of the escalated ones


def follow_up(
    core: Core, *, remind_after: timedelta | None, escalate_after: timedelta | None, approvers_group: str = ""
) -> FollowUps:
    """Claim the requests pending longer than `remind_after` (a reminder naming the approvers, or their user
    group) and longer than `escalate_after` (the admins are told). Each claim is an audit event, which the card's
    thread shows; None turns that step off."""
    now = core.clock()
    reminded: list[CancellationRequest] = []
    escalated: list[CancellationRequest] = []
    admins: list[str] = []
    with core.database.write() as db:
        if remind_after is not None:
            approvers = roles.holders(db, Role.APPROVER)

            def reminder(request: CancellationRequest) -> dict[str, Any]:
                if approvers_group:
                    return {"waited_minutes": _minutes(now, request), "group": approvers_group}
                named = [user for user in approvers if user != request.requester]
                return {
                    "waited_minutes": _minutes(now, request),
                    "approvers": named[:MENTIONS],
                    "more": len(named[MENTIONS:]),
                }

            reminded = requests.claim_follow_ups(
                db, action="request.reminded", waiting_since=now - remind_after, now=now, detail=reminder
            )
        if escalate_after is not None:
            admins = roles.holders(db, Role.ADMIN)
            escalated = requests.claim_follow_ups(
                db,
                action="request.escalated",
                waiting_since=now - escalate_after,
                now=now,
                detail=lambda request: {"waited_minutes": _minutes(now, request), "admins": admins},
            )
    return FollowUps(reminded, escalated, admins)


def _minutes(now: datetime, request: CancellationRequest) -> int:
    return int((now - request.created_at).total_seconds() // 60)
