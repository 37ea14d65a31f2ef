"""Block Kit builders for the request card and the status view: pure functions of stored state."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot import messages
from providers.base import SubscriptionSnapshot
from storage.models import (
    AuditCheck,
    AuditEvent,
    CancellationRequest,
    GrantStatus,
    RequestStatus,
    RoleAssignment,
    RoleGrant,
)

S = RequestStatus

APPROVE = "cancel_sub_approve"
REJECT = "cancel_sub_reject"
WITHDRAW = "cancel_sub_withdraw"
RETRY = "cancel_sub_retry"
VERIFY = "cancel_sub_verify"
GRANT_CONFIRM = "cancel_sub_grant_confirm"
GRANT_DECLINE = "cancel_sub_grant_decline"
ACTION_IDS = (APPROVE, REJECT, WITHDRAW, RETRY, VERIFY, GRANT_CONFIRM, GRANT_DECLINE)
HOME_LIMIT = 10

SECTION_LIMIT = 3000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    """User-typed text shown in mrkdwn: no mentions, links or channel pings smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_text(request: CancellationRequest, provider_label: str) -> str:
    """The top-level text: notifications and screen readers show this."""
    return (
        f"Cancel {provider_label} subscription {request.subscription_id}? Requested by "
        f"{messages.mention(request.requester)}. {_status_plain(request)}"
    )


def _status_plain(request: CancellationRequest) -> str:
    return f"Status: {S(request.status).value.replace('_', ' ')}."


def request_card(
    request: CancellationRequest, *, provider_label: str, effect: str, snapshot: SubscriptionSnapshot | None
) -> tuple[str, list[dict[str, Any]]]:
    blocks: list[Block] = [
        HeaderBlock(text=_clip(f"Cancel subscription {request.subscription_id}?", 150)),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Requested by*\n{messages.mention(request.requester)}"),
                MarkdownTextObject(text=f"*Provider*\n{_escape(provider_label)}"),
                MarkdownTextObject(text=f"*Subscription*\n`{_escape(request.subscription_id)}`"),
                MarkdownTextObject(text=f"*Request*\n`{request.id}`"),
                *_snapshot_fields(snapshot),
            ]
        ),
        SectionBlock(text=MarkdownTextObject(text=_clip(f"*Reason*\n>{_escape(request.reason)}", SECTION_LIMIT))),
        SectionBlock(text=MarkdownTextObject(text=f":warning: *Effect:* {effect}.")),
    ]
    if snapshot is not None and snapshot.notes:
        notes = "\n".join(f"• {_escape(n)}" for n in snapshot.notes)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(notes, SECTION_LIMIT))]))
    blocks.append(DividerBlock())
    blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(messages.status_line(request), SECTION_LIMIT))))
    if request.outcome_detail and S(request.status) in (S.FAILED, S.UNKNOWN, S.ALREADY_CANCELLED):
        said = _clip(f"Provider said: {_escape(request.outcome_detail)}", SECTION_LIMIT)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=said)]))
    buttons = _buttons(request, effect=effect)
    if buttons:
        blocks.append(ActionsBlock(block_id="decision", elements=buttons))
    return card_text(request, provider_label), [b.to_dict() for b in blocks]


def _snapshot_fields(snapshot: SubscriptionSnapshot | None) -> list[MarkdownTextObject]:
    if snapshot is None:
        return []
    customer = " · ".join(_escape(p) for p in (snapshot.customer_name, snapshot.customer_email) if p) or "not shown"
    amount = " ".join(p for p in (snapshot.amount, snapshot.currency) if p) or "not shown"
    return [
        MarkdownTextObject(text=f"*Customer*\n{customer}"),
        MarkdownTextObject(text=f"*Plan*\n{_escape(snapshot.plan or 'not shown')}"),
        MarkdownTextObject(text=f"*Amount*\n{_escape(amount)}"),
        MarkdownTextObject(text=f"*Status at request*\n{snapshot.status.value}"),
    ]


def _confirm(title: str, text: str, yes: str, *, danger: bool = False) -> ConfirmObject:
    return ConfirmObject(
        title=_clip(title, 100),
        text=MarkdownTextObject(text=_clip(text, 300)),
        confirm=_clip(yes, 30),
        deny="Go back",
        style="danger" if danger else None,
    )


def _buttons(request: CancellationRequest, *, effect: str) -> list[ButtonElement]:
    status = S(request.status)
    sub = request.subscription_id
    if status is S.PENDING:
        return [
            ButtonElement(
                text="Approve",
                action_id=APPROVE,
                value=request.id,
                style="primary",
                confirm=_confirm(
                    "Cancel this subscription?", f"This {effect}: `{_clip(sub, 64)}`.", "Cancel it", danger=True
                ),
            ),
            ButtonElement(
                text="Reject",
                action_id=REJECT,
                value=request.id,
                style="danger",
                confirm=_confirm("Reject this request?", "Nothing will be cancelled.", "Reject"),
            ),
            ButtonElement(
                text="Withdraw",
                action_id=WITHDRAW,
                value=request.id,
                confirm=_confirm("Withdraw your request?", "Only the requester can withdraw.", "Withdraw"),
            ),
        ]
    if status is S.FAILED and request.retry_safe:
        return [
            ButtonElement(
                text="Retry",
                action_id=RETRY,
                value=request.id,
                style="primary",
                confirm=_confirm(
                    "Retry the cancel?",
                    "The bot reads the subscription first and cancels only if it is still running. Approvers only.",
                    "Retry",
                ),
            )
        ]
    if status is S.UNKNOWN:
        return [
            ButtonElement(
                text="Verify",
                action_id=VERIFY,
                value=request.id,
                style="primary",
                confirm=_confirm(
                    "Verify at the provider?",
                    "The bot reads the subscription and settles this request. Nothing is cancelled by this button.",
                    "Verify",
                ),
            )
        ]
    return []


def audit_thread_text(events: list[AuditEvent]) -> str:
    return _clip("\n".join(messages.audit_line(e) for e in events), 3900)


def status_view(request: CancellationRequest, events: list[AuditEvent], *, provider_label: str) -> str:
    """The ephemeral answer to `/cancel-sub status <id>`."""
    lines = [
        f"*{request.id}*: cancel {_escape(provider_label)} subscription `{_escape(request.subscription_id)}`, "
        f"asked by {messages.mention(request.requester)}.",
        messages.status_line(request),
        "*History*",
        *(messages.audit_line(e) for e in events),
    ]
    return _clip("\n".join(lines), 3900)


def grant_card(grant: RoleGrant) -> tuple[str, list[dict[str, Any]]]:
    """A proposed approver/admin grant: a second admin confirms or declines it."""
    who, by = messages.mention(grant.user_id), messages.mention(grant.requested_by)
    status = GrantStatus(grant.status)
    if status is GrantStatus.PENDING:
        state = f":hourglass_flowing_sand: Waiting for another admin. Expires {messages.when(grant.expires_at)}."
    elif status is GrantStatus.CONFIRMED:
        state = (
            f":white_check_mark: *Confirmed* by {messages.mention(grant.decided_by)} {messages.when(grant.decided_at)}."
        )
    elif status is GrantStatus.DECLINED:
        state = f":no_entry_sign: *Declined* by {messages.mention(grant.decided_by)} {messages.when(grant.decided_at)}."
    else:
        state = f":alarm_clock: *Expired* {messages.when(grant.decided_at)} without a decision."
    parts: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=f"*Role change:* the *{grant.role}* role for {who}, proposed by {by}.")
        ),
        SectionBlock(text=MarkdownTextObject(text=state)),
    ]
    if status is GrantStatus.PENDING:
        parts.append(
            ActionsBlock(
                block_id="grant",
                elements=[
                    ButtonElement(
                        text="Confirm",
                        action_id=GRANT_CONFIRM,
                        value=grant.id,
                        style="primary",
                        confirm=_confirm(
                            f"Give {grant.role} rights?", f"{who} will be able to act as {grant.role}.", "Confirm"
                        ),
                    ),
                    ButtonElement(text="Decline", action_id=GRANT_DECLINE, value=grant.id, style="danger"),
                ],
            )
        )
    text = f"Role change: {grant.role} for {who}, proposed by {by} ({status.value})"
    return text, [b.to_dict() for b in parts]


def home_view(
    *,
    decidable: list[CancellationRequest],
    mine: list[CancellationRequest],
    roles_list: list[RoleAssignment] | None,
    check: AuditCheck | None,
    is_approver: bool,
) -> dict[str, Any]:
    """The App Home: what an approver may decide, the user's own requests, and for admins roles and the chain."""
    parts: list[Block] = [HeaderBlock(text="cancel-sub")]
    if is_approver:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"*Waiting for a decision* ({len(decidable)})")))
        if not decidable:
            parts.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing to decide right now.")]))
        for request in decidable[:HOME_LIMIT]:
            parts.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=_clip(
                            f"`{request.id}` {request.provider} `{_escape(request.subscription_id)}` asked by "
                            f"{messages.mention(request.requester)}: _{_escape(request.reason)}_\n"
                            f"Expires {messages.when(request.expires_at)}",
                            SECTION_LIMIT,
                        )
                    )
                )
            )
            parts.append(
                ActionsBlock(
                    block_id=f"home-{request.id}",
                    elements=[
                        b
                        for b in _buttons(request, effect="cancels at the provider")
                        if b.action_id in (APPROVE, REJECT)
                    ],
                )
            )
    parts.append(DividerBlock())
    parts.append(SectionBlock(text=MarkdownTextObject(text="*Your recent requests*")))
    if not mine:
        parts.append(ContextBlock(elements=[MarkdownTextObject(text="You have not asked for any cancellation yet.")]))
    for request in mine[:HOME_LIMIT]:
        parts.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip(
                        f"`{request.id}` {request.provider} `{_escape(request.subscription_id)}`: "
                        f"{messages.status_line(request)}",
                        SECTION_LIMIT,
                    )
                )
            )
        )
    if roles_list is not None:
        parts.append(DividerBlock())
        lines = [f"• {messages.mention(a.user_id)} {a.role}" for a in roles_list] or ["No roles yet."]
        parts.append(SectionBlock(text=MarkdownTextObject(text=_clip("*Roles*\n" + "\n".join(lines), SECTION_LIMIT))))
        if check is None:
            verdict = "The audit chain has not been checked yet; the bot checks it periodically."
        elif check.ok:
            checked = messages.when(check.checked_at)
            verdict = f":white_check_mark: Audit chain intact ({check.events} events), checked {checked}."
        else:
            checked = messages.when(check.checked_at)
            verdict = f":rotating_light: *Audit chain broken*: {_escape(check.description)} (checked {checked})."
        parts.append(SectionBlock(text=MarkdownTextObject(text=verdict)))
    return {"type": "home", "blocks": [b.to_dict() for b in parts]}
