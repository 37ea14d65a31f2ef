"""Middleware that refuses payloads Slack would never send, before Bolt's matchers trip over them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse

log = logging.getLogger(__name__)


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
