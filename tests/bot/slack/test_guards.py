"""Bodies Slack never sends, found by fuzzing, are refused before Bolt parses them (each once gave a 500)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from bot.slack.guards import malformed, parseable

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "body",
    [
        "payload=",
        "payload=0",
        "view",
        "payload=" + quote(json.dumps({"type": "block_actions", "actions": None, "user": "U1"})),
        "payload=" + quote(json.dumps({"type": "view_submission", "view": "x"})),
        "command=%2Fcancel-sub&view=x",
        "text=hello",
    ],
)
def test_unparseable_bodies_are_refused(body: str) -> None:
    assert not parseable(body.encode(), FORM)


def test_real_shapes_pass() -> None:
    assert parseable(b"command=%2Fcancel-sub&text=help&user_id=U0AGENT01", FORM)
    click = {"type": "block_actions", "user": {"id": "U0A"}, "actions": [{"action_id": "a", "value": "v"}]}
    assert parseable(("payload=" + quote(json.dumps(click))).encode(), FORM)
    assert malformed(click) is None
    assert parseable(
        json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}}).encode(), "application/json"
    )


def test_actions_with_null_entries_are_malformed() -> None:
    assert malformed({"type": "block_actions", "user": {"id": "U0A"}, "actions": [None]}) == "action"
