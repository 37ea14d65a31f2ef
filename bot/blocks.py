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
from storage.models import AuditEvent, CancellationRequest, RequestStatus

S = RequestStatus

APPROVE = "cancel_sub_approve"
REJECT = "cancel_sub_reject"
WITHDRAW = "cancel_sub_withdraw"
RETRY = "cancel_sub_retry"
VERIFY = "cancel_sub_verify"
ACTION_IDS = (APPROVE, REJECT, WITHDRAW, RETRY, VERIFY)

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
