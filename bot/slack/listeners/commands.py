"""`/cancel-sub`: parse, answer within the ack, and hand the slow part (lookups, cards, exports) to the work pool."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.core import access, admin, finding, reads
from bot.core.admin import Change
from bot.core.asking import Ask
from bot.core.results import Refusal, Result
from bot.core.since import parse_since
from bot.runtime.services import Services
from bot.slack import alerts, blocks, text
from bot.slack.commands import (
    AskCommand,
    AuditQuery,
    Export,
    Grant,
    Help,
    Invalid,
    ListRoles,
    NewForm,
    Revoke,
    Status,
    parse,
)
from bot.slack.errors import SLACK_FAILURES, SLACK_OR_ANSWER_FAILURES, slack_error
from bot.slack.listeners import forms, picking
from bot.slack.listeners.handover import hand_over
from bot.slack.listeners.requesting import make_request
from bot.slack.mentions import mentioned_user
from providers.base import InvalidSubscriptionId, UnknownProvider
from storage.models import Role

log = logging.getLogger(__name__)


def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient, services: Services) -> None:
    user, channel = command.get("user_id", ""), command.get("channel_id", "")
    match parse(command.get("text", "")):
        case Help():
            ack(text=text.usage(services.registry.describe_enabled()))
        case NewForm():
            forms.open_for_command(services, ack=ack, client=client, say=ephemeral(respond), command=command)
        case Invalid(error):
            ack(text=text.invalid_command(error, services.registry.describe_enabled()))
        case Status(request_id):
            show_status(services, ack=ack, client=client, user=user, request_id=request_id)
        case AskCommand() as asked:
            ask(
                services,
                ack=ack,
                respond=respond,
                client=client,
                asked=asked,
                user=user,
                channel=channel,
                command_key=command.get("trigger_id") or None,
            )
        case ListRoles():
            if _allowed(services, ack=ack, client=client, user=user, needed=Role.ADMIN, attempted="roles"):
                ack(text=text.roles_list(admin.list_roles(services.core)))
        case Grant(target, role) | Revoke(target, role) as change:
            word = "grant" if isinstance(change, Grant) else "revoke"
            if _allowed(services, ack=ack, client=client, user=user, needed=Role.ADMIN, attempted=word):
                change_role(
                    services,
                    ack=ack,
                    respond=respond,
                    client=client,
                    user=user,
                    channel=channel,
                    grant=isinstance(change, Grant),
                    target=target,
                    role_name=role,
                )
        case AuditQuery(target, since):
            if _allowed(services, ack=ack, client=client, user=user, needed=Role.APPROVER, attempted="audit"):
                look_up_audit(services, ack=ack, target=target, since_text=since)
        case Export(since):
            if _allowed(services, ack=ack, client=client, user=user, needed=Role.ADMIN, attempted="export"):
                export_audit(services, ack=ack, respond=respond, client=client, user=user, since_text=since)


def _allowed(services: Services, *, ack: Ack, client: WebClient, user: str, needed: Role, attempted: str) -> bool:
    if access.has_role(services.core, user, needed):
        return True
    alerts.deny(services, ack=ack, client=client, user=user, needed=needed, attempted=attempted)
    return False


def ask(
    services: Services,
    *,
    ack: Ack,
    respond: Respond,
    client: WebClient,
    asked: AskCommand,
    user: str,
    channel: str,
    command_key: str | None,
) -> None:
    """Validate before anything is stored or sent (bad input never reaches a provider), ack, then look up."""
    try:
        provider = services.registry.get_provider(asked.provider)
        if finding.looks_like_email(asked.subscription_id):
            picking.offer(
                services,
                ack=ack,
                respond=respond,
                client=client,
                provider=provider,
                email=asked.subscription_id,
                reason=asked.reason,
                user=user,
                channel=channel,
            )
            return
        subscription_id = provider.validate_id(asked.subscription_id)
    except (UnknownProvider, InvalidSubscriptionId) as exc:
        ack(text=text.warning(str(exc)))
        return
    if not access.may_ask(services.core, user):
        alerts.deny(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="request")
        return
    request = Ask(
        requester=user,
        provider=provider.name,
        subscription_id=subscription_id,
        reason=asked.reason,
        channel=channel,
        # A retried delivery of a command already handled makes no second request.
        command_key=command_key,
    )
    work = services.provider_work.pool(provider.name)
    say = ephemeral(respond)
    if not hand_over(work, make_request, services, say=say, client=client, ask=request, label=provider.label):
        ack(text=text.busy(provider.label))
        return
    ack(text=text.looking_up(subscription_id, provider.label))


def ephemeral(respond: Respond) -> Callable[[str], None]:
    """Tell the person who typed the command, privately, where they typed it."""

    def say(message: str) -> None:
        respond(text=message, response_type="ephemeral")

    return say


def show_status(services: Services, *, ack: Ack, client: WebClient, user: str, request_id: str) -> None:
    if not _allowed(services, ack=ack, client=client, user=user, needed=Role.REQUESTER, attempted="status"):
        return
    request = reads.request(services.core, request_id)
    if request is None:
        ack(text=text.refusal_text(Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST)))
        return
    provider = services.registry.get(request.provider)
    label = provider.label if provider else request.provider
    ack(text=blocks.status_view(request, reads.history(services.core, request.id), provider_label=label))


def change_role(
    services: Services,
    *,
    ack: Ack,
    respond: Respond,
    client: WebClient,
    user: str,
    channel: str,
    grant: bool,
    target: str,
    role_name: str,
) -> None:
    member = mentioned_user(target)
    if member is None:
        ack(text=text.name_with_mention("grant" if grant else "revoke"))
        return
    if grant:
        change = admin.grant(services.core, actor=user, user_id=member, role_name=role_name, channel=channel)
    else:
        change = admin.revoke(services.core, actor=user, user_id=member, role_name=role_name, channel=channel)
    ack(text=text.role_change(change))
    if change.change in (Change.REFUSED, Change.UNCHANGED):
        return
    # Made and audited already; if the Slack threads are too busy to announce it, the ack above said it.
    hand_over(
        services.slack_pool,
        announce_role_change,
        services,
        client=client,
        respond=respond,
        channel=channel,
        change=change,
    )


def announce_role_change(
    services: Services, *, client: WebClient, respond: Respond, channel: str, change: admin.RoleChange
) -> None:
    """Every role change is a line in the channel; a proposed grant is a card with Confirm / Decline."""
    proposal = change.grant if change.change is Change.PROPOSED else None
    try:
        if proposal is not None:
            message, card = blocks.grant_card(proposal)
            posted = client.chat_postMessage(channel=channel, text=message, blocks=card)
            admin.grant_card_posted(services.core, proposal.id, card_ts=str(posted["ts"]))
        else:
            client.chat_postMessage(channel=channel, text=text.role_change(change))
    except SLACK_FAILURES as exc:
        log.warning("could not announce a role change in %s: %s", channel, slack_error(exc))
        respond(text=text.announce_failed(proposal=proposal is not None), response_type="ephemeral")


def _since(ack: Ack, since_text: str) -> tuple[bool, datetime | None]:
    try:
        return True, parse_since(since_text) if since_text else None
    except ValueError as exc:
        ack(text=text.warning(str(exc)))
        return False, None


def look_up_audit(services: Services, *, ack: Ack, target: str, since_text: str) -> None:
    understood, since = _since(ack, since_text)
    if not understood:
        return
    found = admin.audit_lookup(
        services.core, request_id=target, user_id=mentioned_user(target), subscription_id=target, since=since
    )
    ack(text=text.audit_summary(found, since))


def export_audit(
    services: Services, *, ack: Ack, respond: Respond, client: WebClient, user: str, since_text: str
) -> None:
    understood, since = _since(ack, since_text)
    if not understood:
        return
    if not hand_over(services.pool, send_export, services, client=client, respond=respond, user=user, since=since):
        ack(text=text.busy(None))
        return
    ack(text=text.EXPORT_PREPARING)


def send_export(services: Services, *, client: WebClient, respond: Respond, user: str, since: datetime | None) -> None:
    csv_text, count = admin.export_csv(services.core, since=since)
    try:
        channel = client.conversations_open(users=user)["channel"]["id"]
        client.files_upload_v2(
            channel=channel,
            content=csv_text,
            filename=f"cancel-sub-audit-{services.core.clock():%Y%m%d-%H%M}.csv",
            title="cancel-sub audit export",
            initial_comment=text.export_comment(count, since),
        )
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.warning("audit export to %s failed: %s", user, slack_error(exc))
        respond(text=text.EXPORT_FAILED, response_type="ephemeral")
        return
    admin.record_export(services.core, actor=user, events=count, since=since)
