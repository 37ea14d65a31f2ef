"""Button listeners: approve, reject, withdraw, retry, verify. Each acks at once; the workflow decides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import alerts, blocks, home, messages
from bot.services import Services
from bot.workflow import Refusal, Result
from storage.models import CancellationRequest, Role, RoleGrant

log = logging.getLogger(__name__)

Decide = Callable[[str, str], Result]


def register(app: App, services: Services) -> None:
    workflow = services.workflow

    def decided(decide: Decide, *, follow_up: Callable[[str], Result] | None = None) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            user, request_id = clicked(body, action)
            tell = replier(services, body, respond, client, user)

            def work() -> None:
                run_decision(services, client, tell, decide(request_id, user), follow_up, user=user)
                if from_home(body):
                    home.publish(services, client, user)

            services.pool.submit(work)

        return listener

    def grant_decided(confirm: bool) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            user, grant_id = clicked(body, action)
            tell = replier(services, body, respond, client, user)
            services.pool.submit(decide_grant, services, client, tell, grant_id=grant_id, user=user, confirm=confirm)

        return listener

    app.action(blocks.GRANT_CONFIRM)(grant_decided(True))
    app.action(blocks.GRANT_DECLINE)(grant_decided(False))
    app.action(blocks.APPROVE)(
        decided(lambda rid, user: workflow.approve(rid, approver=user), follow_up=workflow.execute)
    )
    app.action(blocks.REJECT)(decided(lambda rid, user: workflow.reject(rid, approver=user)))
    app.action(blocks.WITHDRAW)(decided(lambda rid, user: workflow.withdraw(rid, user=user)))
    app.action(blocks.RETRY)(decided(lambda rid, user: workflow.retry(rid, approver=user), follow_up=workflow.resume))
    app.action(blocks.VERIFY)(decided(lambda rid, user: workflow.verify(rid, approver=user)))


Tell = Callable[[str], None]


def clicked(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str]:
    """Who clicked, and the id the button carries (shape already checked by guards)."""
    return str((body.get("user") or {}).get("id", "")), str(action.get("value") or "")[:64]


def from_home(body: dict[str, Any]) -> bool:
    view = body.get("view")
    return isinstance(view, dict) and view.get("type") == "home"


def replier(services: Services, body: dict[str, Any], respond: Respond, client: WebClient, user: str) -> Tell:
    """How to answer the clicker privately: ephemeral where the click came from a message, a DM from the Home."""
    if body.get("response_url"):

        def ephemeral(text: str) -> None:
            respond(text=text, response_type="ephemeral", replace_original=False)

        return ephemeral

    def direct(text: str) -> None:
        services.notifier.dm(client, user, text)

    return direct


def run_decision(
    services: Services,
    client: WebClient,
    tell: Tell,
    result: Result,
    follow_up: Callable[[str], Result] | None,
    *,
    user: str,
) -> None:
    """Show a won decision on the card and in the thread, and run what follows it (the provider call).

    The provider call runs here, in the work thread; showing each step in Slack is handed to the Slack pool. So
    "Approved by …, cancelling…" goes up while the provider is asked, and a slow Slack never holds a cancel's slot.
    Updates may finish in any order: the card shows the latest state, thread lines keep their order, and each
    DM goes out once (see Cards.sync)."""
    cards = services.cards

    def show(request: CancellationRequest | None) -> None:
        if request is not None:
            services.slack_pool.submit(cards.sync, client, request.id, current=request)

    if not result.ok:
        tell(_refusal(result, viewer=user))
        if result.refusal is Refusal.NO_ROLE:
            alerts.denied(services, client, user=user, attempted="decide a request", needed=Role.APPROVER)
        if result.refusal is Refusal.OVER_LIMIT:
            alerts.over_limit(services, client, user=user, kind="approvals", detail=result.detail)
        if result.request is not None and result.events:
            show(result.request)  # e.g. the click found the request expired
        return
    assert result.request is not None
    show(result.request)
    if follow_up is None:
        return
    show(follow_up(result.request.id).request)


def decide_grant(services: Services, client: WebClient, tell: Tell, *, grant_id: str, user: str, confirm: bool) -> None:
    change = services.admin.decide(grant_id, actor=user, confirm=confirm)
    if change.kind == "refused":
        tell(change.message)
        if change.grant is not None and not services.admin.is_admin(user):
            alerts.denied(services, client, user=user, attempted="decide a role change", needed=Role.ADMIN)
        return
    grant = change.grant
    assert grant is not None
    show_grant(client, grant)
    try:
        client.chat_postMessage(channel=grant.channel, thread_ts=grant.card_ts, text=change.message)
    except (SlackClientError, OSError) as exc:
        log.warning("could not post the role change line: %s", type(exc).__name__)


def show_grant(client: WebClient, grant: RoleGrant) -> None:
    if not grant.card_ts:
        return
    text, card = blocks.grant_card(grant)
    try:
        client.chat_update(channel=grant.channel, ts=grant.card_ts, text=text, blocks=card)
    except (SlackClientError, OSError) as exc:
        log.warning("could not update the role change card %s: %s", grant.id, type(exc).__name__)


def _refusal(result: Result, *, viewer: str) -> str:
    refusal = result.refusal or Refusal.ALREADY_DECIDED
    if refusal is Refusal.PROVIDER_PROBLEM:
        return f"The provider could not say whether it is cancelled ({result.detail}). Try Verify again later."
    return messages.refusal_text(refusal, result.request, result.detail, viewer=viewer)
