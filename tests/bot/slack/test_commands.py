"""Command text parsing: what people type, the typed command it becomes, and the exact answer to a mistake."""

from __future__ import annotations

import pytest

from bot.slack.commands import (
    AskCommand,
    AuditQuery,
    Export,
    Grant,
    Help,
    Invalid,
    ListRoles,
    NewForm,
    Revoke,
    Status,
    parse,
)


@pytest.mark.parametrize("text", ["help", "HELP", "--help", "?"])
def test_help(text: str) -> None:
    assert parse(text) == Help()


@pytest.mark.parametrize("text", ["", "   ", "new", "NEW"])
def test_the_form(text: str) -> None:
    assert parse(text) == NewForm()


def test_a_request_keeps_the_reason_whole() -> None:
    assert parse("Kajabi  2150820   customer asked   by email ") == AskCommand(
        provider="kajabi", subscription_id="2150820", reason="customer asked by email"
    )


def test_status() -> None:
    assert parse("status cr-7k3m9q2a") == Status("CR-7K3M9Q2A")
    assert isinstance(parse("status"), Invalid)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("roles", ListRoles()),
        ("grant <@U0ALEX001|alex> approver", Grant("<@U0ALEX001|alex>", "approver")),
        ("revoke <@U0ALEX001> admin", Revoke("<@U0ALEX001>", "admin")),
        ("audit sb_1001 --since 7d", AuditQuery("sb_1001", "7d")),
        ("audit --since 2026-11-01 CR-7K3M9Q2A", AuditQuery("CR-7K3M9Q2A", "2026-11-01")),
        ("export", Export("")),
        ("export --since 30d", Export("30d")),
    ],
)
def test_admin_commands(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kajabi", "Missing the subscription id and the reason"),
        ("kajabi 2150820", "A reason is required"),
        ("kajabi 2150820 no", "3 to 500 characters (it is 2)"),
        ("kajabi 2150820 " + "x" * 501, "it is 501"),
        ("kajabi " + "9" * 5000 + " reason", "a request fits in 4000"),
        ("grant", "Usage"),
        ("audit", "Usage"),
        ("export --since", "`--since` needs a value"),
        ("kajabi 2150820 customer\x00asked", "cannot be stored"),
        ("kajabi 2150820 customer\x1basked", "cannot be stored"),
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Invalid) and says in parsed.error


def test_a_reason_is_kept_as_typed_not_as_slack_escaped_it() -> None:
    parsed = parse("kajabi 2150820 AT&amp;T says &lt;b&gt;stop&lt;/b&gt; &amp;amp; more")
    assert isinstance(parsed, AskCommand) and parsed.reason == "AT&T says <b>stop</b> &amp; more"
