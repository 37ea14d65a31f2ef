"""The HTTP edge: the signature is checked on the raw bytes before anything is parsed or logged; hostile requests
get a 4xx, never a 5xx or a traceback, and each refusal is one short log line."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import httpx
import pytest

from bot.demo.stack import LocalStack

NESTED = ("[" * 100_000 + "]" * 100_000).encode()


def post(stack: LocalStack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{stack.server.url}/slack/events", content=body, headers=headers, timeout=30)


def signed(stack: LocalStack, body: bytes, content_type: str = "application/json") -> dict[str, str]:
    return {**stack.driver.signed_headers(body.decode()), "Content-Type": content_type}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": str(int(time.time()) - 3600), "X-Slack-Signature": "v0=" + "0" * 64},
    ],
    ids=["no headers", "word timestamp", "huge timestamp", "wrong signature", "stale"],
)
def test_an_unsigned_request_is_refused_401_before_its_body_is_parsed(
    stack: LocalStack, headers: dict[str, str]
) -> None:
    answer = post(stack, NESTED, {**headers, "Content-Type": "application/json"})
    assert answer.status_code == 401


def test_a_signed_but_absurd_body_is_a_400_not_a_500(stack: LocalStack) -> None:
    answer = post(stack, NESTED, signed(stack, NESTED))
    assert answer.status_code == 400


def test_slacks_ssl_check_is_answered(stack: LocalStack) -> None:
    body = b"ssl_check=1&token=abc"
    answer = post(stack, body, signed(stack, body, "application/x-www-form-urlencoded"))
    assert answer.status_code == 200


def test_a_command_that_mentions_a_payload_is_answered_and_makes_its_request(stack: LocalStack) -> None:
    """Bolt's own parser reads any form body holding the word "payload" as an empty interaction (a 404)."""
    fields = stack.driver.command_payload("sandbox sb_1001 the payload was charged twice", user="U0AGENT01")
    body = urlencode({**fields, "channel_name": "payload-support"}).encode()
    answer = post(stack, body, signed(stack, body, "application/x-www-form-urlencoded"))
    assert answer.status_code == 200 and "Looking up `sb_1001`" in answer.text
    stack.wait_idle()
    card = stack.slack.channel_messages("C0456EFGH")[-1]
    assert "the payload was charged twice" in str(card.blocks)


def test_a_refused_request_is_one_short_log_line_without_its_body(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    forged = b"token=x&text=" + b"A" * 500_000 + b"\nFORGED LOG LINE"
    with caplog.at_level(logging.DEBUG, logger="bot"), caplog.at_level(logging.DEBUG, logger="slack_bolt"):
        for _ in range(5):
            assert post(stack, forged, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("bot", "slack_bolt"))]
    assert len(lines) == 5 and all("without a valid Slack signature" in line for line in lines), lines
    assert not any("FORGED" in line or "AAAA" in line for line in lines)


def test_hundreds_of_idle_connections_do_not_keep_slack_out(stack: LocalStack) -> None:
    import socket

    port = stack.server.port
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    try:
        for sock in idle[::2]:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")  # half a request, then silence
        started = time.monotonic()
        answer = stack.driver.command("help", user="U0AGENT01", channel="C0CHANNEL")
        assert answer.status_code == 200 and time.monotonic() - started < 2
    finally:
        for sock in idle:
            sock.close()
