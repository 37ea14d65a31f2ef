"""Reading Slack's request bodies once, refusing shapes Slack never sends, and middleware for malformed payloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltResponse

log = logging.getLogger(__name__)


# Fields Bolt reads as JSON objects wherever they appear (and `actions`/`authorizations` as lists).
OBJECT_FIELDS = ("view", "event", "user", "team", "channel", "message", "container", "enterprise", "state")
LIST_FIELDS = ("actions", "authorizations")


def read(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The request as Bolt is to see it: a slash command's form fields, or the JSON object of an interaction (the
    `payload` field) or an event, with its object and list fields really objects and lists; None for any other
    shape. Read here once, for Bolt too: Bolt's own parser takes any form body holding the word "payload" (a
    channel named #payload-support, a reason that mentions one) for an interaction and reads it as empty."""
    try:
        if content_type.startswith("application/json"):
            return _shaped(json.loads(body or b"null"))
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        fields = dict(pairs)
        if len(fields) != len(pairs):
            return None  # a field twice: Slack never sends one, and readers differ on which counts
        if "payload" in fields:
            return _shaped(json.loads(fields["payload"])) if len(fields) == 1 else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    command = fields.get("command", "")
    if not command.startswith("/") or any(name in fields for name in (*OBJECT_FIELDS, *LIST_FIELDS)):
        return None
    return fields


def _shaped(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    if any(value.get(name) is not None and not isinstance(value[name], dict) for name in OBJECT_FIELDS):
        return None
    if any(value.get(name) is not None and not isinstance(value[name], list) for name in LIST_FIELDS):
        return None
    return value


def _is_text(value: Any, limit: int = 255) -> bool:
    return isinstance(value, str) and len(value) <= limit


def malformed(body: dict[str, Any]) -> str | None:
    """Why an interaction payload is not shaped like Slack's, or None when it is."""
    if body.get("type") != "block_actions":
        return None
    user = body.get("user")
    if not isinstance(user, dict) or not _is_text(user.get("id"), 32):
        return "user"
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions"
    for action in actions:
        if not isinstance(action, dict) or not _is_text(action.get("action_id")):
            return "action"
        if "value" in action and not _is_text(action["value"], 2000):
            return "value"
    return None


def reject_malformed(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse:
    problem = malformed(body)
    if problem is not None:
        log.warning("refused a block_actions payload with a malformed %s", problem)
        return BoltResponse(status=400, body=f"malformed {problem}")
    return next()
