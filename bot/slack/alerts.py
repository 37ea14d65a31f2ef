"""Refusals that matter beyond the person refused: an audit event, and a DM to the admins at most once an hour."""

from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.core import access
from bot.core.results import Result
from bot.runtime.services import Services
from bot.slack import text
from bot.slack.listeners.handover import hand_over
from storage.models import Role


def deny(services: Services, *, ack: Ack, client: WebClient, user: str, needed: Role, attempted: str) -> None:
    """Someone without the role tried: an honest refusal, an audit event, and (once an hour) the admins hear."""
    refused = access.record_denied(services.core, user, needed=needed, attempted=attempted)
    ack(text=text.refusal_text(refused))
    denied(services, client, user=user, attempted=attempted, needed=needed)


def denied(services: Services, client: WebClient, *, user: str, attempted: str, needed: Role) -> None:
    message = text.denied_alert(user, attempted=attempted, needed=needed.value)
    hand_over(
        services.pool, services.delivery.alert_admins, client, subject=user, kind=f"denied.{attempted}", message=message
    )


def over_limit(services: Services, client: WebClient, *, user: str, kind: str, result: Result) -> None:
    message = text.over_limit_alert(user, kind=kind, limit=result.limit)
    hand_over(
        services.pool, services.delivery.alert_admins, client, subject=user, kind=f"limit.{kind}", message=message
    )
