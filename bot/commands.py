"""`/cancel-sub`: parsing (pure) and the listener that answers, asks the workflow and posts the card."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import admin_commands, alerts, blocks, messages
from bot.parsing import ADMIN_WORDS, parse
from bot.services import Services
from bot.workflow import Refusal
from providers.base import InvalidSubscriptionId, UnknownProvider
from storage.models import Role

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.command(messages.COMMAND)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        handle(services, ack=ack, command=command, respond=respond, client=client)


def handle(services: Services, *, ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
    workflow = services.workflow
    user, channel = command.get("user_id", ""), command.get("channel_id", "")
    parsed = parse(command.get("text", ""))
    if parsed.kind == "help":
        ack(text=messages.usage(services.registry.describe_enabled()))
        return
    if parsed.kind == "error":
        ack(text=f":warning: {parsed.error}\n\n{messages.usage(services.registry.describe_enabled())}")
        return
    if parsed.kind == "status":
        _status(services, ack=ack, client=client, user=user, request_id=parsed.request_id)
        return
    if parsed.kind in ADMIN_WORDS:
        admin_commands.handle(services, parsed, ack=ack, respond=respond, client=client, user=user, channel=channel)
        return
    # Validate before anything is stored or sent: bad input never reaches a provider.
    try:
        provider = services.registry.get_provider(parsed.provider)
        subscription_id = provider.validate_id(parsed.subscription_id)
    except (UnknownProvider, InvalidSubscriptionId) as exc:
        ack(text=f":warning: {exc}")
        return
    if not workflow.may_ask(user):
        alerts.deny(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="request")
        return
    ack(text=f"Looking up `{subscription_id}` at {provider.label}…")
    services.pool.submit(
        _ask,
        services,
        respond=respond,
        client=client,
        user=user,
        channel=channel,
        provider_name=provider.name,
        provider_label=provider.label,
        subscription_id=subscription_id,
        reason=parsed.reason,
        # A retried delivery of a command already handled makes no second request (see Workflow.request).
        command_key=command.get("trigger_id") or None,
    )


def _ask(
    services: Services,
    *,
    respond: Respond,
    client: WebClient,
    user: str,
    channel: str,
    provider_name: str,
    provider_label: str,
    subscription_id: str,
    reason: str,
    command_key: str | None,
) -> None:
    """After the ack: read the subscription, store the request, post the card."""
    workflow = services.workflow
    result = workflow.request(
        requester=user,
        provider_name=provider_name,
        raw_id=subscription_id,
        reason=reason,
        channel=channel,
        command_key=command_key,
    )
    if result.duplicate:
        return
    if result.refusal is Refusal.OVER_LIMIT:
        alerts.over_limit(services, client, user=user, kind="requests", detail=result.detail)
    if result.refusal is Refusal.NO_ROLE:
        alerts.denied(services, client, user=user, attempted="request", needed=Role.REQUESTER)
    if not result.ok or result.request is None:
        respond(
            text=_lookup_refusal_text(result.refusal, subscription_id, provider_label, result.detail),
            response_type="ephemeral",
        )
        return
    posted = services.cards.post(client, result.request)
    if posted.ts is None:
        closed = workflow.close_unposted(result.request.id, why=posted.error or "card not posted")
        respond(
            text=_unposted_text(posted.error, closed.request.id if closed.request else ""), response_type="ephemeral"
        )
        return
    workflow.card_posted(result.request.id, channel=result.request.channel, card_ts=posted.ts)
    services.cards.sync(client, result.request.id, refresh=False)  # the card was just posted as it is
    respond(text=f"Request `{result.request.id}` is posted and waits for an approver.", response_type="ephemeral")


def _status(services: Services, *, ack: Ack, client: WebClient, user: str, request_id: str) -> None:
    workflow = services.workflow
    if not workflow.has_role(user, Role.REQUESTER):
        alerts.deny(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="status")
        return
    request = workflow.get(request_id)
    if request is None:
        ack(text=messages.refusal_text(Refusal.NO_SUCH_REQUEST))
        return
    provider = services.registry.get(request.provider)
    label = provider.label if provider else request.provider
    ack(text=blocks.status_view(request, workflow.history(request.id), provider_label=label))


def _lookup_refusal_text(refusal: Refusal | None, subscription_id: str, label: str, detail: str) -> str:
    if refusal in (Refusal.OVER_LIMIT, Refusal.NO_ROLE):
        return messages.refusal_text(refusal, detail=detail)
    sub = f"`{subscription_id}`"
    if refusal is Refusal.NOT_FOUND:
        return f"{label} has no subscription {sub}. Check the id (no request was made)."
    if refusal is Refusal.ALREADY_CANCELLED:
        return f"{label} subscription {sub} is already cancelled. Nothing to do (no request was made)."
    if refusal is Refusal.NOT_CANCELLABLE:
        return f"{label} subscription {sub} has ended and cannot be cancelled (no request was made)."
    return (
        f"Could not read {sub} at {label}, so no request was made: {detail or 'no details'}. "
        "If this persists, an admin should check the provider settings."
    )


def _unposted_text(error: str | None, request_id: str) -> str:
    if error in ("not_in_channel", "channel_not_found"):
        return (
            "I can't post in this channel, so nothing was requested "
            f"(request `{request_id}` is closed). Invite me with `/invite @cancel-sub` and run the command again, "
            "or use it in a channel I'm in."
        )
    return (
        f"Slack did not accept the request card ({error}), so nothing was requested (request `{request_id}` is "
        "closed). Please try again in a minute."
    )
