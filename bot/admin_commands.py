"""`/cancel-sub roles | grant | revoke | audit | export`: the admins' and auditors' commands."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import alerts, blocks, messages
from bot.admin import RoleChange, mentioned_user
from bot.parsing import Parsed
from bot.services import Services
from bot.timeparse import parse_since
from storage import audit
from storage.errors import RoleError
from storage.models import Role
from storage.roles import parse_role

log = logging.getLogger(__name__)

SUMMARY_LINES = 25


def handle(
    services: Services, parsed: Parsed, *, ack: Ack, respond: Respond, client: WebClient, user: str, channel: str
) -> None:
    kind, target, role, since_text = parsed.kind, parsed.target, parsed.role, parsed.since
    needed = Role.APPROVER if kind == "audit" else Role.ADMIN
    if not services.workflow.has_role(user, needed):
        alerts.deny(services, ack=ack, client=client, user=user, needed=needed, attempted=kind)
        return
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError as exc:
        ack(text=f":warning: {exc}")
        return
    if kind == "roles":
        ack(text=_roles_text(services))
    elif kind in ("grant", "revoke"):
        _change_role(
            services,
            ack=ack,
            respond=respond,
            client=client,
            user=user,
            channel=channel,
            kind=kind,
            target=target,
            role_name=role,
        )
    elif kind == "audit":
        label, events = services.admin.lookup(target, since=since)
        ack(text=_audit_text(label, events, since))
    elif kind == "export":
        ack(text="Preparing the audit export; it arrives as a CSV file in a direct message.")
        services.pool.submit(_export, services, client=client, respond=respond, user=user, since=since)


def _roles_text(services: Services) -> str:
    assignments = services.admin.list_roles()
    if not assignments:
        return "No roles yet."
    lines = [
        f"• <@{a.user_id}> {a.role} (granted by {messages.mention(a.granted_by)} {messages.when(a.granted_at)})"
        for a in assignments
    ]
    return "*Roles*\n" + "\n".join(lines)


def _change_role(
    services: Services,
    *,
    ack: Ack,
    respond: Respond,
    client: WebClient,
    user: str,
    channel: str,
    kind: str,
    target: str,
    role_name: str,
) -> None:
    member = mentioned_user(target)
    if member is None:
        ack(text=f":warning: Name the person with a mention, e.g. `{messages.COMMAND} {kind} @alex approver`.")
        return
    try:
        role = parse_role(role_name)
    except RoleError as exc:
        ack(text=f":warning: {exc}")
        return
    if kind == "revoke":
        change = services.admin.revoke(actor=user, user_id=member, role=role)
        if change.kind == "changed":
            services.workflow.roles_revoked(member)
    else:
        change = services.admin.grant(actor=user, user_id=member, role=role, channel=channel)
    if change.kind in ("refused", "unchanged"):
        ack(text=change.message)
        return
    ack(text=change.message)
    services.pool.submit(_announce, services, client=client, respond=respond, channel=channel, change=change)


def _announce(services: Services, *, client: WebClient, respond: Respond, channel: str, change: RoleChange) -> None:
    """Every role change is a line in the channel; a proposed grant is a card with Confirm / Decline."""
    grant = change.grant
    try:
        if grant is not None and change.kind == "proposed":
            text, card = blocks.grant_card(grant)
            posted = client.chat_postMessage(channel=channel, text=text, blocks=card)
            services.admin.card_posted(grant.id, card_ts=str(posted["ts"]))
        else:
            client.chat_postMessage(channel=channel, text=change.message)
    except (SlackClientError, OSError) as exc:
        log.warning("could not announce a role change in %s: %s", channel, type(exc).__name__)
        respond(
            text="The change is recorded, but I can't post in this channel (invite me with `/invite`). "
            + (
                "The proposal can be confirmed once it is posted; propose it again where I am."
                if grant is not None
                else ""
            ),
            response_type="ephemeral",
        )


def _audit_text(label: str, events: list[audit.AuditEvent], since: datetime | None) -> str:
    if not events:
        return f"No audit events for {label}" + (f" since {messages.when(since)}." if since else ".")
    shown = events[-SUMMARY_LINES:]
    head = f"*Audit for {label}*: {len(events)} events" + (f" since {messages.when(since)}" if since else "")
    if len(events) > len(shown):
        head += f" (the last {len(shown)} shown; `{messages.COMMAND} export` has them all)"
    return head + "\n" + "\n".join(messages.audit_line(e) for e in shown)


def _export(services: Services, *, client: WebClient, respond: Respond, user: str, since: datetime | None) -> None:
    with services.database.reader() as session:
        csv_text = audit.export_csv_text(session, since=since)
    count = max(0, csv_text.count("\n") - 1)
    try:
        channel = client.conversations_open(users=user)["channel"]["id"]
        client.files_upload_v2(
            channel=channel,
            content=csv_text,
            filename=f"cancel-sub-audit-{audit.utcnow():%Y%m%d-%H%M}.csv",
            title="cancel-sub audit export",
            initial_comment=f"The audit log: {count} events" + (f" since {messages.when(since)}." if since else "."),
        )
    except (SlackClientError, OSError, KeyError) as exc:
        log.warning("audit export to %s failed: %s", user, type(exc).__name__)
        respond(
            text="The export could not be sent to you by DM. Try again, or run `cancel-sub audit export` on "
            "the server.",
            response_type="ephemeral",
        )
        return
    with services.database.session() as session:
        audit.append(
            session,
            actor=user,
            action="audit.exported",
            detail={"events": count, "since": audit.format_time(since) if since else None},
        )
