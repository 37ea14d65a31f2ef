"""Block Kit builders (slack_sdk models) for request cards, grant cards, the status view and the App Home: pure
functions of stored state; the words come from bot.slack.text."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.reads import HOME_LIMIT, Home
from bot.slack import text as messages
from bot.slack.commands import REASON_MAX
from bot.slack.forms import NEW_REQUEST
from bot.slack.text import clip as _clip
from bot.slack.text import escape as _escape
from providers.base import SubscriptionSnapshot
from storage.models import AuditEvent, CancellationRequest, GrantStatus, RequestStatus, RoleGrant

S = RequestStatus

APPROVE = "cancel_sub_approve"
REJECT = "cancel_sub_reject"
WITHDRAW = "cancel_sub_withdraw"
RETRY = "cancel_sub_retry"
VERIFY = "cancel_sub_verify"
GRANT_CONFIRM = "cancel_sub_grant_confirm"
GRANT_DECLINE = "cancel_sub_grant_decline"
ACTION_IDS = (APPROVE, REJECT, WITHDRAW, RETRY, VERIFY, GRANT_CONFIRM, GRANT_DECLINE)
# The form that asks an approver why they reject: its callback id, and where its one field is.
REJECT_VIEW = "cancel_sub_reject_reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"

SECTION_LIMIT = 3000
MESSAGE_LIMIT = 3900


def card_text(request: CancellationRequest, provider_label: str) -> str:
    """The top-level text: notifications and screen readers show this."""
    return (
        f"Cancel {provider_label} subscription {_escape(request.subscription_id)}? Requested by "
        f"{messages.mention(request.requester)}. {_status_plain(request)}"
    )


def _status_plain(request: CancellationRequest) -> str:
    return f"Status: {S(request.status).value.replace('_', ' ')}."


def request_card(request: CancellationRequest, *, provider_label: str, effect: str) -> tuple[str, list[dict[str, Any]]]:
    head = _card_head(
        request.id,
        request.requester,
        request.subscription_id,
        request.reason,
        request.ticket_link,
        request.snapshot,
        provider_label=provider_label,
        effect=effect,
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=_clip(messages.status_line(request), SECTION_LIMIT))),
    ]
    if request.outcome_detail and S(request.status) in (S.FAILED, S.UNKNOWN, S.ALREADY_CANCELLED):
        said = _clip(f"Provider said: {_escape(request.outcome_detail)}", SECTION_LIMIT)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=said)]))
    buttons = _buttons(request, effect=effect)
    if buttons:
        blocks.append(ActionsBlock(block_id="decision", elements=buttons))
    return card_text(request, provider_label), [*head, *(b.to_dict() for b in blocks)]


@lru_cache(maxsize=1024)
def _card_head(
    request_id: str,
    requester: str,
    subscription_id: str,
    reason: str,
    ticket_link: str | None,
    snapshot_json: str,
    *,
    provider_label: str,
    effect: str,
) -> tuple[dict[str, Any], ...]:
    """The part of a card that never changes once the request is made (what is asked, by whom, why, and what it
    does), rendered once per process for each request, though the card is shown again at every step. Keyed by
    the values themselves, so it cannot go stale; the dicts are shared, so nobody may change them."""
    snapshot = SubscriptionSnapshot.from_json(snapshot_json)
    blocks: list[Block] = [
        HeaderBlock(text=_clip(f"Cancel subscription {subscription_id}?", 150)),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Requested by*\n{messages.mention(requester)}"),
                MarkdownTextObject(text=f"*Provider*\n{_escape(provider_label)}"),
                MarkdownTextObject(text=f"*Subscription*\n`{_escape(subscription_id)}`"),
                MarkdownTextObject(text=f"*Request*\n`{request_id}`"),
                *_snapshot_fields(snapshot),
            ]
        ),
        SectionBlock(text=MarkdownTextObject(text=_clip(f"*Reason*\n{_quoted(reason)}", SECTION_LIMIT))),
    ]
    if ticket_link:
        ticket = _clip(f":ticket: Ticket: {_escape(ticket_link)}", SECTION_LIMIT)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=ticket)]))
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f":warning: *Effect:* {effect}.")))
    if snapshot is not None and snapshot.notes:
        notes = "\n".join(f"• {_escape(n)}" for n in snapshot.notes)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(notes, SECTION_LIMIT))]))
    blocks.append(DividerBlock())
    return tuple(b.to_dict() for b in blocks)


def _quoted(typed: str) -> str:
    """Typed text as a block quote, every line of it (a reason from the form may have several)."""
    return "\n".join(f">{_escape(line)}" for line in typed.splitlines() or [""])


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
                    messages.APPROVE_DIALOG[0],
                    f"This {effect}: `{_escape(_clip(sub, 64))}`.",
                    messages.APPROVE_DIALOG[1],
                    danger=True,
                ),
            ),
            ButtonElement(text="Reject", action_id=REJECT, value=request.id, style="danger"),  # a form asks why
            ButtonElement(
                text="Withdraw",
                action_id=WITHDRAW,
                value=request.id,
                confirm=_confirm(*messages.WITHDRAW_DIALOG),
            ),
        ]
    if status is S.FAILED and request.retry_safe:
        return [
            ButtonElement(
                text="Retry",
                action_id=RETRY,
                value=request.id,
                style="primary",
                confirm=_confirm(*messages.RETRY_DIALOG),
            )
        ]
    if status is S.UNKNOWN:
        return [
            ButtonElement(
                text="Verify",
                action_id=VERIFY,
                value=request.id,
                style="primary",
                confirm=_confirm(*messages.VERIFY_DIALOG),
            )
        ]
    return []


def audit_thread_messages(events: list[AuditEvent]) -> list[tuple[str, int]]:
    """The thread lines for `events`, in order, packed into as few messages as Slack's limit allows; each
    message with the sequence of the last event it carries (marked shown once that message is posted)."""
    packed: list[tuple[str, int]] = []
    lines: list[str] = []
    last = 0
    for event in events:
        line = _clip(messages.audit_line(event), MESSAGE_LIMIT)
        if lines and len("\n".join([*lines, line])) > MESSAGE_LIMIT:
            packed.append(("\n".join(lines), last))
            lines = []
        lines.append(line)
        last = event.sequence
    if lines:
        packed.append(("\n".join(lines), last))
    return packed


def status_view(request: CancellationRequest, events: list[AuditEvent], *, provider_label: str) -> str:
    """The ephemeral answer to `/cancel-sub status <id>`."""
    lines = [
        f"*{request.id}*: cancel {_escape(provider_label)} subscription `{_escape(request.subscription_id)}`, "
        f"asked by {messages.mention(request.requester)}.",
        messages.status_line(request),
        "*History*",
        *(messages.audit_line(e) for e in events),
    ]
    return _clip("\n".join(lines), MESSAGE_LIMIT)


def reject_form(request: CancellationRequest, *, required: bool) -> dict[str, Any]:
    """The modal that asks why, for `request` (carried in private_metadata)."""
    return View(
        type="modal",
        callback_id=REJECT_VIEW,
        private_metadata=request.id,
        title=messages.REJECT_FORM_TITLE,
        submit=messages.REJECT_FORM_SUBMIT,
        close=messages.FORM_CLOSE,
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=_clip(messages.reject_form_intro(request), SECTION_LIMIT))),
            InputBlock(
                block_id=REASON_BLOCK,
                label=messages.REJECT_REASON_LABEL,
                optional=not required,
                element=PlainTextInputElement(
                    action_id=REASON_INPUT,
                    multiline=True,
                    max_length=REASON_MAX,
                    placeholder=messages.REJECT_REASON_PLACEHOLDER,
                ),
            ),
        ],
    ).to_dict()


def submitted_reason(view: dict[str, Any]) -> str:
    """What the approver typed in the reject form ('' when nothing)."""
    field = ((view.get("state") or {}).get("values") or {}).get(REASON_BLOCK) or {}
    return str((field.get(REASON_INPUT) or {}).get("value") or "").strip()


def grant_card(grant: RoleGrant) -> tuple[str, list[dict[str, Any]]]:
    """A proposed approver/admin grant: a second admin confirms or declines it."""
    parts: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=messages.grant_summary(grant))),
        SectionBlock(text=MarkdownTextObject(text=messages.grant_state(grant))),
    ]
    if GrantStatus(grant.status) is GrantStatus.PENDING:
        title, question = messages.grant_confirm_dialog(grant)
        parts.append(
            ActionsBlock(
                block_id="grant",
                elements=[
                    ButtonElement(
                        text="Confirm",
                        action_id=GRANT_CONFIRM,
                        value=grant.id,
                        style="primary",
                        confirm=_confirm(title, question, "Confirm"),
                    ),
                    ButtonElement(text="Decline", action_id=GRANT_DECLINE, value=grant.id, style="danger"),
                ],
            )
        )
    return messages.grant_plain(grant), [b.to_dict() for b in parts]


def home_view(home: Home) -> dict[str, Any]:
    """The App Home: what an approver may decide, the user's own requests, and for admins roles and the chain."""
    parts: list[Block] = [
        HeaderBlock(text="cancel-sub"),
        ActionsBlock(
            block_id="home-new",
            elements=[ButtonElement(text="New request", action_id=NEW_REQUEST, value="new", style="primary")],
        ),
    ]
    if home.is_approver:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"*Waiting for a decision* ({home.waiting})")))
        if not home.decidable:
            parts.append(ContextBlock(elements=[MarkdownTextObject(text=messages.NOTHING_TO_DECIDE)]))
        for request in home.decidable[:HOME_LIMIT]:
            parts.append(
                SectionBlock(
                    text=MarkdownTextObject(
                        text=_clip(
                            f"`{request.id}` {request.provider} `{_escape(request.subscription_id)}` asked by "
                            f"{messages.mention(request.requester)}: _{_escape(' '.join(request.reason.split()))}_\n"
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
        if home.waiting > len(home.decidable[:HOME_LIMIT]):
            more = home.waiting - len(home.decidable[:HOME_LIMIT])
            parts.append(ContextBlock(elements=[MarkdownTextObject(text=messages.more_waiting(more))]))
    parts.append(DividerBlock())
    parts.append(SectionBlock(text=MarkdownTextObject(text="*Your recent requests*")))
    if not home.mine:
        parts.append(ContextBlock(elements=[MarkdownTextObject(text=messages.NO_REQUESTS_YET)]))
    for request in home.mine[:HOME_LIMIT]:
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
    if home.roles is not None:
        parts.append(DividerBlock())
        lines = [f"• {messages.mention(a.user_id)} {a.role}" for a in home.roles] or ["No roles yet."]
        roles = messages.fitted("*Roles*", lines, limit=SECTION_LIMIT, more=f"`{messages.COMMAND} roles`")
        parts.append(SectionBlock(text=MarkdownTextObject(text=roles)))
        check = home.check
        verdict = (
            messages.CHAIN_NOT_CHECKED
            if check is None
            else messages.chain_verdict(check.ok, check.events, check.description, check.checked_at)
        )
        parts.append(SectionBlock(text=MarkdownTextObject(text=verdict)))
    return {"type": "home", "blocks": [b.to_dict() for b in parts]}
