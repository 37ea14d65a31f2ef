"""Button listeners: one per action id. Each acks at once, then decides in the work pool through bot.core."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.core import admin, decisions
from bot.core.admin import Change, RoleRefusal
from bot.core.calls import WhenSlow
from bot.core.results import Refusal, Result
from bot.runtime.services import Services
from bot.slack import alerts, blocks, home, text
from bot.slack.commands import reason_problem
from bot.slack.errors import SLACK_FAILURES, slack_error
from bot.slack.listeners.handover import bulkhead_of, hand_over, tell_busy
from storage.models import Role

log = logging.getLogger(__name__)

Tell = Callable[[str], None]
# Seconds an approved cancel may take before the card shows it in progress: most providers answer well within it,
# and the people then see one change, to the outcome, instead of two in quick succession.
SHOW_EXECUTING_AFTER = 1.0


@dataclass(frozen=True)
class Click:
    """Who clicked which button's id, how to answer them privately, and whether it came from the App Home."""

    user: str
    target: str  # the request or grant id the button carries
    tell: Tell
    from_home: bool

    @classmethod
    def of(
        cls, services: Services, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> Click:
        user = str((body.get("user") or {}).get("id", ""))  # shape already checked by bot.slack.guards
        view = body.get("view")
        return cls(
            user=user,
            target=str(action.get("value") or "")[:64],
            tell=replier(services, body, respond, client, user),
            from_home=isinstance(view, dict) and view.get("type") == "home",
        )


def decide_later(
    services: Services,
    client: WebClient,
    click: Click,
    decide: Callable[..., None],
    *args: Any,
    by_provider: bool = False,
) -> None:
    """After the ack: on the bulkhead of the request's provider when deciding may call it, else on the work pool;
    when that is full nothing is decided and the person is told so."""
    pool, label = bulkhead_of(services, click.target) if by_provider else (services.pool, None)
    if not hand_over(pool, decide, services, client, click, *args):
        tell_busy(services, click.tell, label)


def on_approve(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), approve, by_provider=True)


def approve(services: Services, client: WebClient, click: Click) -> None:
    """pending -> executing; the winner then cancels at the provider, in this work thread. A cancel answered
    within SHOW_EXECUTING_AFTER is shown once, with its outcome: the card goes straight from pending to it, the
    thread gets both lines in one message and the requester one DM. A slower one shows "cancelling…" meanwhile."""
    result = decisions.approve(services.core, click.target, approver=click.user)
    if not result.ok or result.request is None:
        show_decision(services, client, click, result)
    else:
        approved = WhenSlow(after=SHOW_EXECUTING_AFTER, then=partial(show, services, client, result))
        settled = decisions.cancel(services.core, result.request, when_slow=approved)
        show(services, client, settled if approved.done else replace(settled, events=[*result.events, *settled.events]))
    refresh_home(services, client, click)


def on_reject(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    click = Click.of(services, body, action, respond, client)
    trigger_id = str(body.get("trigger_id") or "")
    if not hand_over(services.form_pool, ask_why, services, client, click, trigger_id):
        tell_busy(services, click.tell, None)


def ask_why(services: Services, client: WebClient, click: Click, trigger_id: str) -> None:
    """Open the reject form for an approver while the request is still pending (Slack allows 3 s from the click);
    say why not otherwise."""
    allowed = decisions.may_reject(services.core, click.target, approver=click.user)
    if not allowed.ok or allowed.request is None:
        show_decision(services, client, click, allowed)
        return
    form = blocks.reject_form(allowed.request, required=services.settings.reject_reason_required)
    try:
        client.views_open(trigger_id=trigger_id, view=form)
    except SLACK_FAILURES as exc:
        log.warning("could not open the reject form: %s", slack_error(exc))
        click.tell(text.FORM_NOT_OPENED)


def on_reject_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """The reject form sent: a problem with the reason is shown on its field (the form stays open); otherwise the
    form closes and the request is rejected after the ack."""
    reason = blocks.submitted_reason(view)
    problem = reason_problem(reason, required=services.settings.reject_reason_required)
    if problem is not None:
        ack(response_action="errors", errors={blocks.REASON_BLOCK: problem})
        return
    ack()
    user = str((body.get("user") or {}).get("id", ""))
    click = Click(
        user=user,
        target=str(view.get("private_metadata") or "")[:64],
        tell=replier(services, body, None, client, user),
        from_home=False,
    )
    decide_later(services, client, click, reject, reason)


def reject(services: Services, client: WebClient, click: Click, reason: str = "") -> None:
    show_decision(
        services, client, click, decisions.reject(services.core, click.target, approver=click.user, reason=reason)
    )
    refresh_home(services, client, click)


def on_withdraw(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), withdraw)


def withdraw(services: Services, client: WebClient, click: Click) -> None:
    show_decision(services, client, click, decisions.withdraw(services.core, click.target, user=click.user))


def on_retry(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), retry, by_provider=True)


def retry(services: Services, client: WebClient, click: Click) -> None:
    """failed -> executing; the winner reads the subscription and cancels only if it still runs."""
    result = decisions.retry(services.core, click.target, approver=click.user)
    if show_decision(services, client, click, result) and result.request is not None:
        show(services, client, decisions.resume(services.core, result.request))


def on_verify(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), verify, by_provider=True)


def verify(services: Services, client: WebClient, click: Click) -> None:
    show_decision(services, client, click, decisions.verify(services.core, click.target, approver=click.user))


def on_grant_confirm(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), decide_grant, True)


def on_grant_decline(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond, services: Services
) -> None:
    ack()
    decide_later(services, client, Click.of(services, body, action, respond, client), decide_grant, False)


def decide_grant(services: Services, client: WebClient, click: Click, confirm: bool) -> None:
    change = admin.decide_grant(services.core, click.target, actor=click.user, confirm=confirm)
    if change.change is Change.REFUSED:
        click.tell(text.role_change(change))
        if change.refusal is RoleRefusal.NOT_ADMIN and change.grant is not None:
            alerts.denied(services, client, user=click.user, attempted="decide a role change", needed=Role.ADMIN)
        return
    grant = change.grant
    assert grant is not None
    services.delivery.show_grant(client, grant)
    try:
        client.chat_postMessage(channel=grant.channel, thread_ts=grant.card_ts, text=text.role_change(change))
    except SLACK_FAILURES as exc:
        log.warning("could not post the role change line: %s", slack_error(exc))


# -- shared by the listeners above ---------------------------------------------------------------------------


def replier(services: Services, body: dict[str, Any], respond: Respond | None, client: WebClient, user: str) -> Tell:
    """How to answer the clicker privately: ephemeral where the click came from a message, a DM from the Home or
    a form."""
    if respond is not None and body.get("response_url"):

        def ephemeral(message: str) -> None:
            respond(text=message, response_type="ephemeral", replace_original=False)

        return ephemeral

    def direct(message: str) -> None:
        services.delivery.dm(client, user, message)

    return direct


def show(services: Services, client: WebClient, step: Result) -> None:
    """Show a step on the card, in the thread and to the requester, from the Slack pool: the work thread goes on
    to the provider call meanwhile. Updates may finish in any order: the card shows the latest state, thread lines
    keep their order, and each DM goes out once (see Delivery.sync); steps waiting together become one update
    (Delivery.sync_soon)."""
    if step.request is not None:
        # When the Slack threads are full, the sweep's catch-up shows it (what Slack owes is kept in the database).
        to_slack_pool = partial(hand_over, services.slack_pool)
        services.delivery.sync_soon(to_slack_pool, client, step.request, step.events)


def show_decision(services: Services, client: WebClient, click: Click, result: Result) -> bool:
    """Show a won decision; tell the clicker why a lost one did nothing. Returns whether it was won."""
    if result.ok:
        show(services, client, result)
        return True
    click.tell(text.refusal_text(result, viewer=click.user))
    if result.refusal is Refusal.NO_ROLE:
        alerts.denied(services, client, user=click.user, attempted="decide a request", needed=Role.APPROVER)
    if result.refusal is Refusal.OVER_LIMIT:
        alerts.over_limit(services, client, user=click.user, kind="approvals", result=result)
    if result.request is not None and result.events:
        show(services, client, result)  # e.g. the click found the request expired
    return False


def refresh_home(services: Services, client: WebClient, click: Click) -> None:
    if click.from_home:
        home.publish(services, client, click.user)
