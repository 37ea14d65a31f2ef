"""Refusals that matter beyond the person refused: an audit event, and a DM to the admins at most once an hour."""

from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot import messages
from bot.services import Services
from bot.workflow import Refusal
from storage.models import Role


def deny(services: Services, *, ack: Ack, client: WebClient, user: str, needed: Role, attempted: str) -> None:
    """Someone without the role tried: an honest refusal, an audit event, and (once an hour) the admins hear."""
    services.workflow.record_denied(user, needed=needed, attempted=attempted)
    ack(text=messages.refusal_text(Refusal.NO_ROLE, detail=needed.value))
    denied(services, client, user=user, attempted=attempted, needed=needed)


def denied(services: Services, client: WebClient, *, user: str, attempted: str, needed: Role) -> None:
    text = f":warning: <@{user}> tried to {attempted} without the {needed} role (reported at most once an hour)."
    services.pool.submit(services.notifier.alert_admins, client, subject=user, kind=f"denied.{attempted}", text=text)


def over_limit(services: Services, client: WebClient, *, user: str, kind: str, detail: str) -> None:
    text = f":warning: <@{user}> reached the {kind} limit: {detail}"
    services.pool.submit(services.notifier.alert_admins, client, subject=user, kind=f"limit.{kind}", text=text)
