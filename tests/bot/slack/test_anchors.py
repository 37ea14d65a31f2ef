"""Anchors outside the database: the running bot posts each newly checked tip to AUDIT_CHANNEL, and
`cancel-sub audit verify --anchors-from-slack` reads them back to catch a rewrite that the database alone cannot."""

from __future__ import annotations

from typing import Any

from bot.demo.fake_slack import Message
from bot.demo.stack import LocalStack
from bot.runtime.sweeper import check_audit_if_due
from bot.slack import anchors
from storage import chain
from tests.bot.conftest import ADMIN
from tests.bot.slack.test_scenarios import ask_and_get_id
from tests.bot.test_cli import cli
from tests.storage.test_audit import tamper
from tests.storage.test_chain import rewrite_from

AUDIT_CHANNEL = "C0AUDIT001"


def tips_posted(stack: LocalStack) -> list[dict[str, Any]]:
    return [
        m.metadata["event_payload"]
        for m in stack.slack.channel_messages(AUDIT_CHANNEL)
        if m.metadata and m.metadata.get("event_type") == anchors.TIP_EVENT
    ]


def make_checks_due(stack: LocalStack) -> None:
    tamper(stack.services.core.database, "UPDATE audit_checks SET checked_at = '2000-01-01 00:00:00.000000'")


def head(stack: LocalStack) -> chain.Anchor:
    with stack.services.core.database.read() as db:
        tip = chain.current_tip(db)
    assert tip is not None
    return tip


def verify_from_slack(stack: LocalStack, tmp_path: Any, *more: str) -> Any:
    env = {
        "DATABASE_URL": stack.settings.database_url,
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_API_URL": stack.slack.base_url,
        "AUDIT_CHANNEL": AUDIT_CHANNEL,
    }
    return cli(tmp_path, "audit", "verify", "--anchors-from-slack", *more, env=env)


def test_each_new_tip_is_posted_once_and_read_back(make_stack: Any, tmp_path: Any) -> None:
    stack = make_stack(audit_channel=AUDIT_CHANNEL)
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    assert check_audit_if_due(stack.services)
    first = head(stack)
    assert tips_posted(stack) == [{"sequence": first.sequence, "hash": first.hash}]
    message = stack.slack.channel_messages(AUDIT_CHANNEL)[0].text
    assert f"event {first.sequence}" in message and first.hash in message

    assert not check_audit_if_due(stack.services)  # not due yet
    make_checks_due(stack)
    assert check_audit_if_due(stack.services)
    assert len(tips_posted(stack)) == 1  # nothing new since: nothing to anchor

    ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    make_checks_due(stack)
    assert check_audit_if_due(stack.services)
    second = head(stack)
    assert second.sequence > first.sequence
    assert tips_posted(stack)[-1] == {"sequence": second.sequence, "hash": second.hash}

    # Another app's message of the same shape is not ours, and is not taken as an anchor.
    forged = {"event_type": anchors.TIP_EVENT, "event_payload": {"sequence": 1, "hash": "f" * 64}}
    stack.slack.messages.append(Message(AUDIT_CHANNEL, "1.000001", "forged", [], bot_id="B0OTHER", metadata=forged))

    verified = verify_from_slack(stack, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "read 2 tips from Slack" in verified.stderr and "matching" in verified.stdout


def test_a_full_rewrite_with_the_checks_deleted_is_caught_by_the_tips_in_slack(make_stack: Any, tmp_path: Any) -> None:
    stack = make_stack(audit_channel=AUDIT_CHANNEL)
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    assert check_audit_if_due(stack.services)
    anchored = head(stack)
    # Everything someone with write access can do: rewrite an event, hash the rest again, delete the checks.
    rewrite_from(stack.services.core.database, 1, '{"forged":true}')
    tamper(stack.services.core.database, "DELETE FROM audit_checks")

    local = cli(tmp_path, "audit", "verify", env={"DATABASE_URL": stack.settings.database_url})
    assert local.returncode == 0  # the database alone cannot tell

    caught = verify_from_slack(stack, tmp_path)
    assert caught.returncode == 1
    assert f"broken at event {anchored.sequence}" in caught.stderr and "the Slack message of" in caught.stderr


def test_a_break_is_posted_to_the_audit_channel_and_sent_to_the_admins(make_stack: Any) -> None:
    stack = make_stack(audit_channel=AUDIT_CHANNEL)
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    assert check_audit_if_due(stack.services)
    first = head(stack)
    ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    make_checks_due(stack)
    assert check_audit_if_due(stack.services)
    # The second check's walk started after the first tip; the first tip must still be there all the same.
    tamper(stack.services.core.database, f"DELETE FROM audit_events WHERE sequence = {first.sequence}")
    make_checks_due(stack)
    assert check_audit_if_due(stack.services)
    posted = [m.text for m in stack.slack.channel_messages(AUDIT_CHANNEL)]
    assert any("Audit chain broken" in text and f"event {first.sequence}" in text for text in posted)
    assert any("Audit chain broken" in m.text for m in stack.slack.dms(ADMIN))


def test_reading_the_tips_needs_the_channel_and_says_when_slack_cannot_be_read(make_stack: Any, tmp_path: Any) -> None:
    stack = make_stack(audit_channel=AUDIT_CHANNEL)
    database = {"DATABASE_URL": stack.settings.database_url}
    without = cli(tmp_path, "audit", "verify", "--anchors-from-slack", env=database)
    assert without.returncode == 2 and "needs AUDIT_CHANNEL and SLACK_BOT_TOKEN" in without.stderr
    stack.slack.unreachable_channels.add(AUDIT_CHANNEL)
    unreadable = verify_from_slack(stack, tmp_path)
    assert unreadable.returncode == 1 and "could not be read from Slack: not_in_channel" in unreadable.stderr
    assert len(unreadable.stderr.strip().splitlines()) == 1
