"""Property-based: markup typed by a person or returned by a provider reaches Slack escaped exactly once, in every
payload the bot sends (cards, threads, DMs, answers, status, audit look-ups, the App Home), whatever it is."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo.stack import LocalStack
from bot.slack import blocks
from providers.base import CancelResult, LookupResult, Outcome
from providers.registry import Registry
from providers.sandbox import SandboxProvider
from tests.bot.conftest import ADMIN, AGENT, APPROVER, APPROVER_2, CHANNEL, STRANGER, grant_defaults
from tests.bot.slack.test_admin import open_home
from tests.bot.slack.test_scenarios import reject

MARKUP = settings(
    max_examples=int(os.environ.get("MARKUP_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What Slack would turn into a ping, a link, a channel reference or formatting if it were shown unescaped.
HOSTILE_FRAGMENTS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0EVIL99>",
    "<#C0EVIL99>",
    "<!subteam^S0EVIL99>",
    "<https://evil.example|Slack SSO re-login>",
    "<mailto:help@evil.example|help desk>",
    "<!date^1|x>",
    "AT&T",
    "a > b",
    "*bold*",
    "_it_",
    "`code`",
    "```",
    "ünïcode ✓ 😀",
    "words",
]
HOSTILE = st.lists(
    st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.text(alphabet="<>&|!@#^ab", min_size=1, max_size=6)),
    min_size=2,
    max_size=6,
).map(" ".join)
KNOWN_USERS = (AGENT, APPROVER, APPROVER_2, ADMIN, STRANGER)
# The bot's own markup: mentions of the people involved, its dates, and the request's channel.
OWN_MARKUP = re.compile(
    r"<@(?:" + "|".join(KNOWN_USERS) + r")>"
    r"|<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[0-9: -]+UTC>"
    r"|<#" + CHANNEL + ">"
)
ANY_MARKUP = re.compile(r"<[^<>]*>")


class HostileProvider(SandboxProvider):
    """The sandbox, whose every text field (customer, email, plan, dates, notes, details) is what the test sets."""

    def __init__(self) -> None:
        super().__init__(slow_seconds=0)
        self.text = "x"
        self.fail = False

    def lookup(self, subscription_id: str) -> LookupResult:
        found = super().lookup(subscription_id)
        if found.snapshot is None:
            return found
        snapshot = replace(
            found.snapshot,
            customer_name=self.text,
            customer_email=self.text,
            plan=self.text,
            dates={"started": self.text},
            notes=(self.text,),
        )
        return replace(found, snapshot=snapshot)

    def cancel(self, subscription_id: str) -> CancelResult:
        result = super().cancel(subscription_id)
        if self.fail:
            return CancelResult(Outcome.PROVIDER_ERROR, self.text, 500, True, result.elapsed_ms)
        return replace(result, detail=self.text)


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, HostileProvider]]:
    path: Path = tmp_path_factory.mktemp("markup") / "markup.db"
    provider = HostileProvider()
    stack = LocalStack(
        f"sqlite:///{path}",
        registry=Registry({"sandbox": provider}),
        max_requests_per_user_per_day=100_000,
        max_approvals_per_user_per_hour=100_000,
    )
    grant_defaults(stack)
    yield stack, provider
    stack.close()


def as_slack_sends(typed: str) -> str:
    """Slack escapes `&`, `<` and `>` in a slash command's text before it sends it."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                yield from strings_in(json.loads(value))
                return
            except ValueError:
                pass
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("token", "action_id", "block_id", "value", "callback_id", "private_metadata"):
                yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def assert_escaped_once(sent: list[Any], hostile: str) -> None:
    shown = list(itertools.chain.from_iterable(strings_in(item) for item in sent))
    for text in shown:
        for token in ANY_MARKUP.findall(text):
            assert OWN_MARKUP.fullmatch(token), f"markup that is not the bot's own reached Slack: {token!r} in {text!r}"
        assert "&amp;amp;" not in text and "&amp;lt;" not in text and "&amp;gt;" not in text, f"escaped twice: {text!r}"
    # The text did arrive (escaped), it was not dropped on the way.
    marker = next((f for f in HOSTILE_FRAGMENTS if f.startswith("<") and f in hostile), None)
    if marker is not None:
        escaped = marker.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert any(escaped in text for text in shown), f"{marker!r} never reached Slack at all"


def sent_since(stack: LocalStack, first_call: int) -> list[Any]:
    return [call.args for call in stack.slack.calls[first_call:]]


counter = itertools.count(1)


@MARKUP
@given(reason=HOSTILE, provider_text=HOSTILE, approve=st.booleans(), fail=st.booleans())
def test_a_whole_request_shows_typed_and_provider_text_escaped_once(
    hostile_stack: tuple[LocalStack, HostileProvider], reason: str, provider_text: str, approve: bool, fail: bool
) -> None:
    stack, provider = hostile_stack
    provider.text, provider.fail = provider_text, fail
    subscription = f"sb_many_{next(counter)}"
    first_call = len(stack.slack.calls)
    acks: list[Any] = []

    def command(text: str, user: str = AGENT, *, mention: str = "") -> None:
        response = stack.driver.command(as_slack_sends(text) + mention, user=user)
        assert response.status_code == 200
        if response.content:
            acks.append(response.text)

    cards_before = len(stack.slack.channel_messages(CHANNEL))
    command(f"sandbox {subscription} {reason}")
    stack.wait_until(lambda: len(stack.slack.channel_messages(CHANNEL)) > cards_before, what=f"the card ({acks})")
    request_id = stack.latest_request_id(CHANNEL)
    stack.wait_until(lambda: stack.request(request_id).card_ts is not None, what="the card recorded")
    if approve:
        stack.driver.click(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
        stack.wait_status(request_id, "cancelled", "failed")
    else:
        reject(stack, request_id, APPROVER, reason=reason)  # typed in a form: it arrives as typed, not escaped
        stack.wait_status(request_id, "rejected")
    command(f"status {request_id}")
    command(f"audit {subscription}", user=ADMIN)
    command("audit ", user=ADMIN, mention=f"<@{AGENT}|agent>")  # Slack sends a mention as markup
    open_home(stack, ADMIN)
    open_home(stack, AGENT)
    stack.wait_idle()
    sent = sent_since(stack, first_call) + acks
    assert_escaped_once(sent, reason)
    assert_escaped_once(sent, provider_text)


@MARKUP
@given(typed=HOSTILE)
def test_refusals_that_repeat_what_was_typed_escape_it(
    hostile_stack: tuple[LocalStack, HostileProvider], typed: str
) -> None:
    stack, _ = hostile_stack
    first_call = len(stack.slack.calls)
    acks = []
    word = typed.split()[0]
    for text in (
        f"sandbox {typed} a reason long enough",
        f"{word} sb_1001 a reason long enough",
        f"status {typed}",
        f"audit {typed}",
        f"grant {typed} approver",
        f"revoke {APPROVER} {typed}",
        typed,
    ):
        response: httpx.Response = stack.driver.command(as_slack_sends(text), user=ADMIN)
        assert response.status_code == 200
        if response.content:
            acks.append(response.text)
    stack.wait_idle()
    shown = sent_since(stack, first_call) + acks
    for text in itertools.chain.from_iterable(strings_in(item) for item in shown):
        for token in ANY_MARKUP.findall(text):
            assert OWN_MARKUP.fullmatch(token), f"markup that is not the bot's own reached Slack: {token!r} in {text!r}"
