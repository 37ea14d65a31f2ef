"""Middleware that refuses payloads Slack would never send, before Bolt's matchers trip over them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import BoltResponse

log = logging.getLogger(__name__)


# Fields Bolt reads as JSON objects wherever they appear (and `actions`/`authorizations` as lists).
OBJECT_FIELDS = ("view", "event", "user", "team", "channel", "message", "container", "enterprise", "state")
LIST_FIELDS = ("actions", "authorizations")


def parseable(body: bytes, content_type: str) -> bool:
    """Whether Bolt can parse this body without tripping: a slash command's form fields, or a JSON object
    (an interaction's `payload`, an event) whose object and list fields really are objects and lists."""
    try:
        if content_type.startswith("application/json"):
            return _shaped(json.loads(body or b"null"))
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        if "payload" in fields:
            return _shaped(json.loads(fields["payload"][0]))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        return False
    command = fields.get("command", [""])[0]
    return command.startswith("/") and not any(name in fields for name in (*OBJECT_FIELDS, *LIST_FIELDS))


def _shaped(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if any(value.get(name) is not None and not isinstance(value[name], dict) for name in OBJECT_FIELDS):
        return False
    return not any(value.get(name) is not None and not isinstance(value[name], list) for name in LIST_FIELDS)


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
