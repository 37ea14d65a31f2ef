"""Property-based: whatever arrives (typed text, forged or malformed button payloads, huge bodies), the bot
answers without a 5xx, shows nobody a traceback, and never calls a provider without an approved request."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import asking
from bot.core.asking import Ask
from bot.demo.stack import LocalStack
from bot.slack import blocks
from providers.sandbox import SandboxProvider
from tests.bot.conftest import AGENT, CHANNEL, STRANGER, grant_defaults

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
USERS = st.sampled_from([AGENT, STRANGER, "U0RANDOM9", "", "W" + "9" * 30])


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    stack = LocalStack(f"sqlite:///{path}")
    grant_defaults(stack)
    request_id = asking.request(
        stack.services.core,
        Ask(requester=AGENT, provider="sandbox", subscription_id="sb_1001", reason="fuzz target", channel=CHANNEL),
    ).request
    assert request_id is not None
    stack.pending_id = request_id.id  # type: ignore[attr-defined]
    yield stack
    stack.close()


def assert_safe(stack: LocalStack, status: int, body: str) -> None:
    assert status < 500, body
    assert "Traceback" not in body and 'File "' not in body
    sandbox = stack.services.registry["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    assert sandbox.cancel_calls == [], "a provider was called without an approved request"


command_texts = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda p, i, r: f"{p} {i} {r}",
        st.sampled_from(["sandbox", "kajabi", "SANDBOX", "x", ""]),
        st.text(min_size=1, max_size=80),
        st.text(max_size=600),
    ),
    st.builds(lambda t: f"status {t}", st.text(max_size=40)),
)


@FUZZ
@given(text=command_texts, user=USERS)
def test_any_command_text(fuzz_stack: LocalStack, text: str, user: str) -> None:
    response = fuzz_stack.driver.command(text, user=user, channel=CHANNEL)
    assert_safe(fuzz_stack, response.status_code, response.text)


actions = st.sampled_from([*blocks.ACTION_IDS, "cancel_sub_unknown", "", "x" * 300])


@FUZZ
@given(action=actions, value=st.one_of(st.text(max_size=100), st.just("PENDING"), st.just("CR-22222222")), user=USERS)
def test_any_button_payload(fuzz_stack: LocalStack, action: str, value: str, user: str) -> None:
    if value == "PENDING":
        value = fuzz_stack.pending_id  # type: ignore[attr-defined]  # someone else's real request
    response = fuzz_stack.driver.click(action, value, user=user, channel=CHANNEL)
    assert_safe(fuzz_stack, response.status_code, response.text)


@FUZZ
@given(
    raw=st.one_of(
        st.text(max_size=500).map(lambda t: "payload=" + quote(t)),
        st.text(max_size=500),
        st.dictionaries(st.text(max_size=10), st.text(max_size=10)).map(lambda d: "payload=" + quote(json.dumps(d))),
        st.just("payload=" + quote(json.dumps({"type": "block_actions", "actions": [None], "user": None}))),
        st.just("payload=" + quote(json.dumps({"type": "block_actions", "actions": [{"action_id": blocks.APPROVE}]}))),
    )
)
def test_malformed_bodies(fuzz_stack: LocalStack, raw: str) -> None:
    response = fuzz_stack.driver.post(raw)
    assert_safe(fuzz_stack, response.status_code, response.text)


def test_a_huge_body_is_refused_without_a_5xx(fuzz_stack: LocalStack) -> None:
    body = "payload=" + "x" * (2 * 1024 * 1024)
    response = fuzz_stack.driver.post(body)
    assert response.status_code == 413
    assert_safe(fuzz_stack, response.status_code, response.text)


def test_nobody_saw_a_traceback_in_slack(fuzz_stack: LocalStack) -> None:
    """Runs after the properties above (same module stack): nothing they caused leaked a traceback."""
    said = [m.text for m in fuzz_stack.slack.ephemerals()] + [m.text for m in fuzz_stack.slack.messages]
    assert said, "the fuzzing above produced no messages at all"
    assert not any("Traceback" in text or 'File "' in text for text in said)
    assert fuzz_stack.request(fuzz_stack.pending_id).status in ("pending", "withdrawn")  # type: ignore[attr-defined]
