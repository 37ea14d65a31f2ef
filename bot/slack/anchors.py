"""The audit chain's checked tips, posted to the audit channel and read back: anchors outside the database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient

from bot.slack import text
from bot.slack.errors import SLACK_OR_ANSWER_FAILURES, slack_error
from storage.chain import Anchor

log = logging.getLogger(__name__)

# The message metadata type that marks a tip; only the bot's own messages of this type are read back.
TIP_EVENT = "cancel_sub_audit_tip"
HISTORY_PAGE = 200


def post_tip(client: WebClient, channel: str, tip: Anchor, *, events: int) -> bool:
    """Post a checked tip: readable text for people, metadata for `cancel-sub audit verify --anchors-from-slack`."""
    try:
        client.chat_postMessage(
            channel=channel,
            text=text.audit_tip(tip.sequence, tip.hash, events=events),
            metadata={"event_type": TIP_EVENT, "event_payload": {"sequence": tip.sequence, "hash": tip.hash}},
        )
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.warning("could not post the audit tip to %s: %s", channel, slack_error(exc))
        return False
    return True


def post_break(client: WebClient, channel: str, description: str) -> bool:
    try:
        client.chat_postMessage(channel=channel, text=text.audit_break(description))
    except SLACK_OR_ANSWER_FAILURES as exc:
        log.warning("could not post the audit break to %s: %s", channel, slack_error(exc))
        return False
    return True


def read_tips(client: WebClient, channel: str) -> list[Anchor]:
    """Every tip the bot posted in `channel`, oldest first. Raises SlackClientError or OSError when Slack cannot
    be read: a verification must not pass for want of its anchors."""
    bot_id = str(client.auth_test()["bot_id"])
    tips = [
        tip
        for message in _history(client, channel)
        if message.get("bot_id") == bot_id and (tip := _tip_of(message)) is not None
    ]
    return sorted(tips, key=lambda tip: tip.sequence)


def _history(client: WebClient, channel: str) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = client.conversations_history(
            channel=channel, include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor
        )
        yield from page.get("messages") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not page.get("has_more") or cursor is None:
            return


def _tip_of(message: dict[str, Any]) -> Anchor | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != TIP_EVENT:
        return None
    payload = metadata.get("event_payload") or {}
    sequence, digest = payload.get("sequence"), payload.get("hash")
    if not isinstance(sequence, int) or not isinstance(digest, str):
        return None
    return Anchor(sequence, digest, f"the Slack message of {message.get('ts', '?')}")
