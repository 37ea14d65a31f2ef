"""The request form: opened by `/cancel-sub` alone, the global shortcut, the App Home's New request button and the
message shortcut (its text the draft reason, its permalink the ticket); a submission asks as the command does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.core import access, finding
from bot.runtime.services import Services
from bot.slack import alerts, forms, picking, text
from bot.slack.commands import REASON_MAX, REASON_MIN, UNSTORABLE, reason_problem
from bot.slack.errors import SLACK_OR_ANSWER_FAILURES, slack_error
from bot.slack.listeners.handover import hand_over, tell_busy
from bot.slack.listeners.picking import search_into_form
from bot.slack.listeners.requesting import ask_from_view, by_dm
from bot.slack.picking import Asked
from providers.base import InvalidSubscriptionId
from storage.models import Role

log = logging.getLogger(__name__)
Say = Callable[[str], object]


def open_for_command(services: Services, *, ack: Ack, client: WebClient, say: Say, command: dict[str, Any]) -> None:
    """`/cancel-sub` alone: the form, with the channel it was typed in chosen already."""
    user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
    if not access.may_ask(services.core, user):
        alerts.deny(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="request")
        return
    trigger_id = str(command.get("trigger_id") or "")
    if not hand_over(services.form_pool, show_form, services, client, trigger_id, say, channel=channel):
        ack(text=text.busy(None))
        return
    ack()


def on_new_request(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """The global shortcut, or the App Home's New request button: the form, with the channel to pick."""
    ack()
    user = _user(body)
    say = by_dm(services, client, user)
    if _may_ask(services, client, user, say):
        trigger_id = str(body.get("trigger_id") or "")
        if not hand_over(services.form_pool, show_form, services, client, trigger_id, say):
            tell_busy(services, say, None)


def on_message_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient, services: Services) -> None:
    """Request cancellation on a message: its text is the draft reason and its permalink the ticket link."""
    ack()
    user = _user(shortcut)
    say = by_dm(services, client, user)
    if _may_ask(services, client, user, say):
        trigger_id = str(shortcut.get("trigger_id") or "")
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        message = shortcut.get("message") if isinstance(shortcut.get("message"), dict) else {}
        if not hand_over(
            services.form_pool, show_form_for_message, services, client, trigger_id, say, channel, message
        ):
            tell_busy(services, say, None)


def show_form_for_message(
    services: Services, client: WebClient, trigger_id: str, say: Say, channel: str, message: dict[str, Any]
) -> None:
    draft = " ".join(str(message.get("text") or "").split())[:REASON_MAX]
    show_form(
        services, client, trigger_id, say, channel=channel, reason=draft, ticket=_permalink(client, channel, message)
    )


def show_form(
    services: Services,
    client: WebClient,
    trigger_id: str,
    say: Say,
    *,
    channel: str = "",
    reason: str = "",
    ticket: str = "",
) -> None:
    """Open the form (Slack allows 3 s from the interaction's trigger); say so when it cannot be opened."""
    providers = [(name, services.registry[name].label) for name in services.registry]
    view = forms.request_form(providers, channel=channel, reason=reason, ticket=ticket)
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.warning("could not open the request form: %s", slack_error(exc))
        say(text.FORM_OPENING_FAILED)


def on_request_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Each problem is shown on its field and the form stays open; otherwise it closes and the request is made
    after the ack, as a command's is, and the requester hears by DM."""
    user = _user(body)
    typed = forms.typed(view)
    errors: dict[str, str] = {}
    provider = services.registry.get(typed.provider)
    subscription_id = ""
    searching = finding.looks_like_email(typed.subscription)
    if provider is None:
        errors[forms.PROVIDER] = text.PICK_A_PROVIDER
    elif searching:
        if not finding.can_search(services.core, provider.name):
            errors[forms.SUBSCRIPTION] = text.needs_id(provider.label)
    else:
        try:
            subscription_id = provider.validate_id(typed.subscription)
        except InvalidSubscriptionId as exc:
            errors[forms.SUBSCRIPTION] = str(exc)
    missing = text.reason_required(REASON_MIN, REASON_MAX)
    if problem := reason_problem(typed.reason, required=True, missing=missing):
        errors[forms.REASON] = problem
    if typed.ticket and not _a_link(typed.ticket):
        errors[forms.TICKET] = text.TICKET_NOT_A_LINK
    if not typed.channel:
        errors[forms.CHANNEL] = text.CHANNEL_NEEDED
    if not errors and not access.may_ask(services.core, user):
        errors[forms.PROVIDER] = text.refusal_text(
            access.record_denied(services.core, user, needed=Role.REQUESTER, attempted="request")
        )
    if errors or provider is None:
        ack(response_action="errors", errors=errors)
        return
    if searching:
        # The search may outlast the 3 s a form's answer has: show that it runs, then the choices in its place.
        asked = Asked(provider=provider.name, reason=typed.reason, channel=typed.channel, ticket=typed.ticket)
        work = services.provider_work.pool(provider.name)
        view_id = str(view.get("id") or "")
        if not hand_over(work, search_into_form, services, client, view_id, asked, typed.subscription, provider.label):
            ack(response_action="errors", errors={forms.PROVIDER: text.busy(provider.label)})
            return
        ack(response_action="update", view=picking.searching_form(label=provider.label))
        return
    asked = Asked(provider=provider.name, reason=typed.reason, channel=typed.channel, ticket=typed.ticket)
    if not ask_from_view(services, client, view, asked, user=user, subscription_id=subscription_id):
        ack(response_action="errors", errors={forms.PROVIDER: text.busy(provider.label)})
        return
    ack()


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else ""


def _may_ask(services: Services, client: WebClient, user: str, say: Say) -> bool:
    if access.may_ask(services.core, user):
        return True
    refused = access.record_denied(services.core, user, needed=Role.REQUESTER, attempted="request")
    hand_over(services.slack_pool, say, text.refusal_text(refused))
    alerts.denied(services, client, user=user, attempted="request", needed=Role.REQUESTER)
    return False


def _permalink(client: WebClient, channel: str, message: dict[str, Any]) -> str:
    if not channel or not message.get("ts"):
        return ""
    try:
        return str(client.chat_getPermalink(channel=channel, message_ts=str(message["ts"]))["permalink"])
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.info("no permalink for the message: %s", slack_error(exc))
        return ""


def _a_link(typed: str) -> bool:
    return typed.startswith(("https://", "http://")) and len(typed) <= forms.TICKET_MAX and not UNSTORABLE.search(typed)
