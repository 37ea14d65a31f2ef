"""The one way to treat a failed Slack call: which exceptions mean Slack did not do it, and what to log."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError, SlackClientError

# Slack answered with an error, or never answered (a timeout arrives as a plain OSError).
SLACK_FAILURES: tuple[type[Exception], ...] = (SlackClientError, OSError)
# The same, or an answer without the fields it should have.
SLACK_OR_ANSWER_FAILURES: tuple[type[Exception], ...] = (*SLACK_FAILURES, KeyError, TypeError)

# The bot cannot post where it was not invited; these are the user's to fix, not ours to retry.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# Errors that asking again cannot change for this message, channel or user: the catch-up stops there.
PERMANENT_ERRORS = CHANNEL_ERRORS | frozenset(
    {
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "account_inactive",
    }
)


def slack_error(exc: Exception) -> str:
    """Slack's error code, or the kind of transport failure; never the request or its tokens."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return "slack_unreachable" if isinstance(exc, OSError) else type(exc).__name__
