"""The request form (a modal): built from the enabled providers and what is known already (channel, draft reason,
ticket link), and read back from a submission into what the person typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
    UrlInputElement,
)
from slack_sdk.models.views import View

from bot.slack import text
from bot.slack.commands import REASON_MAX

REQUEST_VIEW = "cancel_sub_request_form"
NEW_REQUEST = "cancel_sub_new_request"  # the global shortcut's callback id, and the App Home button's action id
FROM_MESSAGE = "cancel_sub_from_message"  # the message shortcut's callback id
PROVIDER, SUBSCRIPTION, REASON, TICKET, CHANNEL = "provider", "subscription", "reason", "ticket", "channel"
TICKET_MAX = 500


@dataclass(frozen=True)
class Typed:
    """A submitted request form, as typed (nothing checked yet)."""

    provider: str
    subscription: str
    reason: str
    ticket: str
    channel: str


def request_form(
    providers: list[tuple[str, str]], *, channel: str = "", reason: str = "", ticket: str = ""
) -> dict[str, Any]:
    """`providers` are (name, label) of the enabled ones; the only one is chosen already."""
    options = [Option(value=name, text=label[:75]) for name, label in providers]
    blocks: list[Any] = [
        InputBlock(
            block_id=PROVIDER,
            label="Provider",
            element=StaticSelectElement(
                action_id=PROVIDER, options=options, initial_option=options[0] if len(options) == 1 else None
            ),
        ),
        InputBlock(
            block_id=SUBSCRIPTION,
            label="Subscription id, or the customer's email",
            hint=text.FORM_SUBSCRIPTION_HINT,
            element=PlainTextInputElement(action_id=SUBSCRIPTION, max_length=200),
        ),
        InputBlock(
            block_id=REASON,
            label="Reason",
            hint=text.FORM_REASON_HINT,
            element=PlainTextInputElement(
                action_id=REASON, multiline=True, max_length=REASON_MAX, initial_value=reason[:REASON_MAX] or None
            ),
        ),
        InputBlock(
            block_id=TICKET,
            label="Ticket link",
            optional=True,
            element=UrlInputElement(action_id=TICKET, initial_value=ticket[:TICKET_MAX] or None),
        ),
        InputBlock(
            block_id=CHANNEL,
            label="Post the request in",
            element=ConversationSelectElement(
                action_id=CHANNEL,
                initial_conversation=channel or None,
                filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
            ),
        ),
        ContextBlock(elements=[MarkdownTextObject(text=text.FORM_FOOTER)]),
    ]
    return View(
        type="modal",
        callback_id=REQUEST_VIEW,
        title=text.REQUEST_FORM_TITLE,
        submit=text.REQUEST_FORM_SUBMIT,
        close=text.FORM_CLOSE,
        blocks=blocks,
    ).to_dict()


def typed(view: dict[str, Any]) -> Typed:
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(block)
        return found if isinstance(found, dict) else {}

    chosen = field(PROVIDER).get("selected_option") or {}
    return Typed(
        provider=str(chosen.get("value") or ""),
        subscription=str(field(SUBSCRIPTION).get("value") or "").strip(),
        reason=str(field(REASON).get("value") or "").strip(),
        ticket=str(field(TICKET).get("value") or "").strip(),
        channel=str(field(CHANNEL).get("selected_conversation") or ""),
    )
