"""Users named in command text: Slack escapes a mention as <@U123|name> (the manifest sets should_escape)."""

from __future__ import annotations

from bot.core.admin import is_user_id


def mentioned_user(word: str) -> str | None:
    """The user id in an escaped mention (<@U123|name>, <@U123>) or a bare id; None otherwise."""
    value = word.strip()
    if value.startswith("<@") and value.endswith(">"):
        value = value[2:-1].split("|", 1)[0]
    return value if is_user_id(value) else None
