"""Making a request after the ack, the same way for the slash command and the form: read the subscription, store
the request, post the card, and tell the requester."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot.core import asking
from bot.core.asking import Ask
from bot.core.results import Refusal
from bot.runtime.services import Services
from bot.slack import alerts, text
from bot.slack.listeners.handover import hand_over
from bot.slack.picking import Asked
from storage.models import Role


def make_request(services: Services, *, say: Callable[[str], object], client: WebClient, ask: Ask, label: str) -> None:
    """After the ack: read the subscription, store the request, post the card; `say` tells the requester privately
    (an ephemeral for a command, a DM for the form)."""
    result = asking.request(services.core, ask)
    if result.duplicate:
        return
    if result.refusal is Refusal.OVER_LIMIT:
        alerts.over_limit(services, client, user=ask.requester, kind="requests", result=result)
    if result.refusal is Refusal.NO_ROLE:
        alerts.denied(services, client, user=ask.requester, attempted="request", needed=Role.REQUESTER)
    if not result.ok or result.request is None:
        say(text.lookup_refusal(result, subscription_id=ask.subscription_id, provider_label=label))
        return
    request = result.request
    posted = services.delivery.post_card(client, request)
    if posted.ts is None:
        closed = asking.close_unposted(services.core, request.id, why=posted.error or "card not posted")
        closed_id = closed.request.id if closed.request else request.id
        say(text.unposted(posted.error, closed_id, channel_error=posted.channel_error))
        return
    asking.card_posted(services.core, request.id, channel=request.channel, card_ts=posted.ts)
    # The card was just posted as it is, and its thread, now held by this process, lacks the creation's event.
    shown = request.model_copy(update={"card_ts": posted.ts})
    services.delivery.sync(client, request.id, refresh=False, current=shown, events=result.events, thread_held=True)
    say(text.posted(request.id))


def ask_from_view(
    services: Services, client: WebClient, view: dict[str, Any], asked: Asked, *, user: str, subscription_id: str
) -> bool:
    """A submitted form asks, after its ack, on the bulkhead of its provider; the requester hears by DM. The view's
    id is the delivery key, so a form sent twice makes one request. False, with nothing asked, when the bulkhead is
    full."""
    ask = asked.ask(requester=user, subscription_id=subscription_id, command_key=f"view:{view.get('id', '')}"[:64])
    provider = services.registry.get_provider(asked.provider)
    say = by_dm(services, client, user)
    work = services.provider_work.pool(provider.name)
    return hand_over(work, make_request, services, say=say, client=client, ask=ask, label=provider.label)


def by_dm(services: Services, client: WebClient, user: str) -> Callable[[str], None]:
    """Tell `user` privately where no response_url can: a form, a shortcut, the App Home."""

    def say(message: str) -> None:
        services.delivery.dm(client, user, message)

    return say
