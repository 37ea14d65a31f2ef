"""Button listeners: approve, reject, withdraw, retry, verify. Each acks at once; the workflow decides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks, messages
from bot.services import Services
from bot.workflow import Refusal, Result

log = logging.getLogger(__name__)

Decide = Callable[[str, str], Result]


def register(app: App, services: Services) -> None:
    workflow = services.workflow

    def decided(decide: Decide, *, follow_up: Callable[[str], Result] | None = None) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            user = str((body.get("user") or {}).get("id", ""))
            request_id = str(action.get("value") or "")[:64]
            services.pool.submit(lambda: run_decision(services, client, respond, decide(request_id, user), follow_up))

        return listener

    app.action(blocks.APPROVE)(
        decided(lambda rid, user: workflow.approve(rid, approver=user), follow_up=workflow.execute)
    )
    app.action(blocks.REJECT)(decided(lambda rid, user: workflow.reject(rid, approver=user)))
    app.action(blocks.WITHDRAW)(decided(lambda rid, user: workflow.withdraw(rid, user=user)))
    app.action(blocks.RETRY)(decided(lambda rid, user: workflow.retry(rid, approver=user), follow_up=workflow.resume))
    app.action(blocks.VERIFY)(decided(lambda rid, user: workflow.verify(rid, approver=user)))


def run_decision(
    services: Services,
    client: WebClient,
    respond: Respond,
    result: Result,
    follow_up: Callable[[str], Result] | None,
) -> None:
    """Show a won decision on the card and in the thread, then run what follows it (the provider call)."""
    cards = services.cards
    if not result.ok:
        respond(text=_refusal(result), response_type="ephemeral", replace_original=False)
        if result.request is not None and result.events:
            cards.sync(client, result.request.id)  # e.g. the click found the request expired
        return
    assert result.request is not None
    cards.sync(client, result.request.id)
    if follow_up is None:
        return
    follow_up(result.request.id)
    cards.sync(client, result.request.id)


def _refusal(result: Result) -> str:
    refusal = result.refusal or Refusal.ALREADY_DECIDED
    if refusal is Refusal.PROVIDER_PROBLEM:
        return f"The provider could not say whether it is cancelled ({result.detail}). Try Verify again later."
    return messages.refusal_text(refusal, result.request, result.detail)
