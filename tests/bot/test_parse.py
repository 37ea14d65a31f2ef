"""Command text parsing: what people type and the exact answer they get."""

from __future__ import annotations

import pytest

from bot.parsing import parse


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help", "?"])
def test_help(text: str) -> None:
    assert parse(text).kind == "help"


def test_a_request_keeps_the_reason_whole() -> None:
    parsed = parse("Kajabi  2150820   customer asked   by email ")
    assert (parsed.kind, parsed.provider, parsed.subscription_id, parsed.reason) == (
        "request",
        "kajabi",
        "2150820",
        "customer asked by email",
    )


def test_status() -> None:
    assert parse("status cr-7k3m9q2a").request_id == "CR-7K3M9Q2A"
    assert parse("status").kind == "error"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kajabi", "Missing the subscription id and the reason"),
        ("kajabi 2150820", "A reason is required"),
        ("kajabi 2150820 no", "3 to 500 characters (it is 2)"),
        ("kajabi 2150820 " + "x" * 501, "it is 501"),
        ("kajabi " + "9" * 5000 + " reason", "a request fits in 4000"),
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str) -> None:
    parsed = parse(text)
    assert parsed.kind == "error" and says in parsed.error
