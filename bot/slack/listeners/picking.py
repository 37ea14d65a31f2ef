"""Asking with a customer's email instead of an id: the provider is searched after the ack, the agent picks one of
the customer's subscriptions (a paged list after the command, a select after the form), and the request goes on
as with an id."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.core import access, finding
from bot.runtime.services import Services
from bot.slack import alerts, picking, text
from bot.slack.commands import REASON_MAX, REASON_MIN, reason_problem
from bot.slack.errors import SLACK_OR_ANSWER_FAILURES, slack_error
from bot.slack.listeners.handover import hand_over
from bot.slack.listeners.requesting import ask_from_view, make_request
from bot.slack.picking import Asked
from providers.base import InvalidSubscriptionId, SubscriptionProvider
from storage.models import Role

log = logging.getLogger(__name__)
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}")


def offer(
    services: Services,
    *,
    ack: Ack,
    respond: Respond,
    client: WebClient,
    provider: SubscriptionProvider,
    email: str,
    reason: str,
    user: str,
    channel: str,
) -> None:
    """`/cancel-sub <provider> <email> <reason>`: search after the ack, then answer with the choices."""
    if not finding.can_search(services.core, provider.name):
        ack(text=text.needs_id(provider.label))
        return
    if not access.may_ask(services.core, user):
        alerts.deny(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="request")
        return
    asked = Asked(provider=provider.name, reason=reason, channel=channel)
    work = services.provider_work.pool(provider.name)
    if not hand_over(work, show_choices, services, respond, asked, provider.label, email, 0, replace=False):
        ack(text=text.busy(provider.label))
        return
    ack(text=text.searching(provider.label))


def show_choices(
    services: Services, respond: Respond, asked: Asked, label: str, email: str, page: int, *, replace: bool
) -> None:
    search = finding.find(services.core, asked.provider, email)
    said, blocks = picking.answer_blocks(search, asked, label=label, email=email, page=page)
    respond(text=said, blocks=blocks, response_type="ephemeral", replace_original=replace)


def on_page(ack: Ack, action: dict[str, Any], respond: Respond, services: Services) -> None:
    """Previous / Next: the same search again, another page of it, in place of the list."""
    ack()
    try:
        asked, rest = Asked.decode(str(action.get("value") or ""))
        email, page = str(rest["email"]), int(rest["page"])
        provider = services.registry[asked.provider]
    except (ValueError, KeyError, TypeError):
        respond(text=text.PICK_NOT_UNDERSTOOD, response_type="ephemeral", replace_original=False)
        return
    work = services.provider_work.pool(provider.name)
    if not hand_over(work, show_choices, services, respond, asked, provider.label, email, max(0, page), replace=True):
        respond(text=text.busy(provider.label), response_type="ephemeral", replace_original=False)


def on_pick(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient, services: Services
) -> None:
    """Request this one: the list gives way to what happens next, and the request goes on as with an id."""
    ack()

    def say(message: str) -> None:
        respond(text=message, response_type="ephemeral", replace_original=False)

    try:
        asked, rest = Asked.decode(str(action.get("value") or ""))
        subscription = str(rest["subscription"])
    except (ValueError, KeyError):
        say(text.PICK_NOT_UNDERSTOOD)
        return
    user = str((body.get("user") or {}).get("id", ""))
    problem = _ask_problem(services, asked, subscription)
    if isinstance(problem, str):
        say(problem)
        return
    provider, subscription_id = problem
    if not access.may_ask(services.core, user):
        say(text.refusal_text(access.record_denied(services.core, user, needed=Role.REQUESTER, attempted="request")))
        alerts.denied(services, client, user=user, attempted="request", needed=Role.REQUESTER)
        return
    ask = asked.ask(requester=user, subscription_id=subscription_id)
    work = services.provider_work.pool(provider.name)
    if not hand_over(work, make_request, services, say=say, client=client, ask=ask, label=provider.label):
        say(text.busy(provider.label))
        return
    respond(text=text.picked(subscription_id, provider.label), response_type="ephemeral", replace_original=True)


def search_into_form(services: Services, client: WebClient, view_id: str, asked: Asked, email: str, label: str) -> None:
    """After the form's ack (which showed "Looking…"): the choices, in the same form."""
    search = finding.find(services.core, asked.provider, email)
    try:
        client.views_update(view_id=view_id, view=picking.pick_form(search, asked, label=label))
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.warning("could not show the customer's subscriptions in the form: %s", slack_error(exc))


def on_pick_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The form's second step sent: the picked subscription is asked for as the form would have with its id."""
    user = str((body.get("user") or {}).get("id", ""))
    try:
        asked, _ = Asked.decode(str(view.get("private_metadata") or ""))
    except ValueError:
        ack(response_action="errors", errors={picking.CHOICE: text.PICK_NOT_UNDERSTOOD})
        return
    checked = _ask_problem(services, asked, picking.picked(view))
    if isinstance(checked, str):
        ack(response_action="errors", errors={picking.CHOICE: checked})
        return
    provider, subscription_id = checked
    if not access.may_ask(services.core, user):
        refused = access.record_denied(services.core, user, needed=Role.REQUESTER, attempted="request")
        ack(response_action="errors", errors={picking.CHOICE: text.refusal_text(refused)})
        return
    if not ask_from_view(services, client, view, asked, user=user, subscription_id=subscription_id):
        ack(response_action="errors", errors={picking.CHOICE: text.busy(provider.label)})
        return
    ack()


def _ask_problem(services: Services, asked: Asked, subscription: str) -> str | tuple[SubscriptionProvider, str]:
    """A button or form value is checked again as if typed (it comes back from Slack, and could be forged)."""
    provider = services.registry.get(asked.provider)
    if provider is None:
        return text.PICK_NOT_UNDERSTOOD
    try:
        subscription_id = provider.validate_id(subscription)
    except InvalidSubscriptionId as exc:
        return text.warning(str(exc))
    missing = text.reason_required(REASON_MIN, REASON_MAX)
    if problem := reason_problem(asked.reason, required=True, missing=missing):
        return problem
    if not CHANNEL_ID.fullmatch(asked.channel):
        return text.CHANNEL_NEEDED
    return provider, subscription_id
