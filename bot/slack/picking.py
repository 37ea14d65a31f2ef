"""A customer's subscriptions found by email, for the agent to pick the one to cancel: a paged list with a button
each (after the command), or a select in the form (after the form)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.asking import Ask
from bot.slack import text
from bot.slack.text import clip, escape
from providers.base import Candidate, EmailSearch

PICK = "cancel_sub_pick"  # a "Request this one" button
PAGE = "cancel_sub_pick_page"  # Previous / Next
PICK_VIEW = "cancel_sub_pick_form"
CHOICE = "choice"
PER_PAGE = 5
SELECT_LIMIT = 100  # options a select may hold


@dataclass(frozen=True)
class Asked:
    """What the agent asked with, carried in the buttons (the email only where a page needs the search again)."""

    provider: str
    reason: str
    channel: str
    ticket: str = ""

    def encode(self, **more: Any) -> str:
        # Characters as they are (not \u escapes): a button's value holds at most 2000 of them.
        return json.dumps({**asdict(self), **more}, separators=(",", ":"), ensure_ascii=False)

    def ask(self, *, requester: str, subscription_id: str, command_key: str | None = None) -> Ask:
        """The request, once the subscription is known (typed, or picked from the customer's)."""
        return Ask(
            requester=requester,
            provider=self.provider,
            subscription_id=subscription_id,
            reason=self.reason,
            channel=self.channel,
            command_key=command_key,
            ticket_link=self.ticket or None,
        )

    @classmethod
    def decode(cls, value: str) -> tuple[Asked, dict[str, Any]]:
        """The request and the rest of a button's value; ValueError when it is not one of ours."""
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        fields = {name: str(data.pop(name, "")) for name in ("provider", "reason", "channel", "ticket")}
        return cls(**fields), data


def describe(candidate: Candidate) -> str:
    """What tells one subscription apart: product, amount, status, start date."""
    amount = " ".join(part for part in (candidate.amount, candidate.currency) if part)
    parts = [
        candidate.product or "no product name",
        amount,
        candidate.status.value,
        candidate.started and f"since {candidate.started}",
    ]
    return " · ".join(escape(str(part)) for part in parts if part)


def answer_blocks(
    search: EmailSearch, asked: Asked, *, label: str, email: str, page: int
) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral answer to a command that named an email: why nothing can be picked, or one page of choices."""
    said = text.search_outcome(search, label=label)
    if said is not None:
        return said, [SectionBlock(text=MarkdownTextObject(text=said)).to_dict()]
    total = len(search.candidates)
    first = max(0, min(page, (total - 1) // PER_PAGE)) * PER_PAGE
    shown = search.candidates[first : first + PER_PAGE]
    heading = text.pick_heading(label=label, total=total, first=first + 1, last=first + len(shown))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=heading))]
    for candidate in shown:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(f"`{escape(candidate.subscription_id)}` {describe(candidate)}", 3000)
                ),
                accessory=ButtonElement(
                    text="Request this one", action_id=PICK, value=asked.encode(subscription=candidate.subscription_id)
                ),
            )
        )
    paging = []
    if first > 0:
        paging.append(
            ButtonElement(
                text="Previous", action_id=f"{PAGE}_prev", value=asked.encode(email=email, page=first // PER_PAGE - 1)
            )
        )
    if first + PER_PAGE < total:
        paging.append(
            ButtonElement(
                text=f"Next ({total - first - PER_PAGE} more)",
                action_id=f"{PAGE}_next",
                value=asked.encode(email=email, page=first // PER_PAGE + 1),
            )
        )
    if paging:
        blocks.append(ActionsBlock(block_id="pages", elements=paging))
    if search.more:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text.SEARCH_HAS_MORE)]))
    return heading, [b.to_dict() for b in blocks]


def pick_form(search: EmailSearch, asked: Asked, *, label: str) -> dict[str, Any]:
    """The form's second step: the customer's subscriptions in a select (or why there is nothing to pick)."""
    said = text.search_outcome(search, label=label)
    blocks: list[Block] = []
    if said is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=said)))
        return View(
            type="modal", callback_id=PICK_VIEW, title=text.PICK_FORM_TITLE, close=text.FORM_CLOSE, blocks=blocks
        ).to_dict()
    options = [
        Option(value=c.subscription_id, text=clip(f"{c.subscription_id} · {_plain(c)}", 75))
        for c in search.candidates[:SELECT_LIMIT]
    ]
    heading = text.pick_heading(label=label, total=len(search.candidates), first=1, last=len(options))
    blocks.append(SectionBlock(text=MarkdownTextObject(text=heading)))
    blocks.append(
        InputBlock(
            block_id=CHOICE, label="Subscription", element=StaticSelectElement(action_id=CHOICE, options=options)
        )
    )
    if len(search.candidates) > SELECT_LIMIT or search.more:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text.SEARCH_HAS_MORE)]))
    return View(
        type="modal",
        callback_id=PICK_VIEW,
        private_metadata=asked.encode(),
        title=text.PICK_FORM_TITLE,
        submit=text.REQUEST_FORM_SUBMIT,
        close=text.FORM_CLOSE,
        blocks=blocks,
    ).to_dict()


def searching_form(*, label: str) -> dict[str, Any]:
    """Shown while the provider is searched (a form must be answered within 3 s; a search may take longer)."""
    said = SectionBlock(text=MarkdownTextObject(text=text.searching(label)))
    return View(
        type="modal", callback_id=PICK_VIEW, title=text.PICK_FORM_TITLE, close=text.FORM_CLOSE, blocks=[said]
    ).to_dict()


def picked(view: dict[str, Any]) -> str:
    field = (((view.get("state") or {}).get("values") or {}).get(CHOICE) or {}).get(CHOICE) or {}
    return str((field.get("selected_option") or {}).get("value") or "")


def _plain(candidate: Candidate) -> str:
    """For a select's option: plain text (options show no markup)."""
    amount = " ".join(part for part in (candidate.amount, candidate.currency) if part)
    return " · ".join(str(p) for p in (candidate.product, amount, candidate.status.value, candidate.started) if p)
