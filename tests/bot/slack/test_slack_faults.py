"""Slack failing (429, 500, timeouts) never loses a request or an audit event; cards and threads catch up."""

from __future__ import annotations

from sqlalchemy import text

from bot.demo.stack import LocalStack
from bot.runtime.sweeper import sweep_once
from bot.slack import blocks
from storage import audit, requests
from tests.bot.conftest import ADMIN, AGENT, APPROVER, CHANNEL
from tests.bot.slack.test_scenarios import (
    ask,
    ask_and_get_id,
    card_of,
    chain_ok,
    click,
    ephemeral_to,
    reject,
    request_count,
)


def test_a_rate_limited_card_post_is_retried_after_retry_after(stack: LocalStack) -> None:
    stack.slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=1)
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    calls = stack.slack.calls_to("chat.postMessage")
    assert calls[1].at - calls[0].at >= 0.9  # Retry-After was honoured
    assert stack.request(request_id).status == "pending" and chain_ok(stack)


def test_a_card_slack_will_not_take_closes_the_request_and_says_so(stack: LocalStack) -> None:
    stack.slack.fail("chat.postMessage", status=500, error="internal_error", times=10)
    ask(stack, "sandbox sb_1001 customer asked")
    ephemeral_to(stack, AGENT, "Slack did not accept the request card")
    stack.wait_until(lambda: request_count(stack) == 1, what="the request")
    with stack.services.database.write() as db:
        events = audit.export_csv_text(db)
    assert "request.created" in events and "request.withdrawn" in events
    assert len(stack.slack.calls_to("chat.postMessage")) == 3  # the first try and two retries
    assert chain_ok(stack)


def test_card_updates_failing_during_an_approval_lose_nothing_and_catch_up(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    stack.slack.fail("chat.update", status=500, error="internal_error", times=100)
    stack.slack.fail("chat.postMessage", status=503, error="service_unavailable", times=100)
    click(stack, blocks.APPROVE, request_id, APPROVER)
    done = stack.wait_status(request_id, "cancelled")
    stack.wait_until(lambda: stack.request(request_id).card_dirty, what="the card to be marked stale")
    assert done.outcome == "cancelled" and chain_ok(stack)
    assert "Waiting for an approver" in card_of(stack, request_id)["json"]  # Slack still shows the old card

    stack.slack.heal()
    stack.wait_idle()
    let_the_back_off_pass(stack)
    sweep_once(stack.services)
    card = card_of(stack, request_id)
    assert "Cancelled" in card["json"] and card["buttons"] == []
    assert not stack.request(request_id).card_dirty
    thread = "\n".join(card["thread"])
    assert "approved" in thread and "*cancelled*" in thread
    assert sweep_once(stack.services) == 0
    assert_thread_shows_each_event_once(stack, request_id)


def test_a_timed_out_card_update_is_caught_up_too(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    stack.services.client.timeout = 1
    stack.slack.fail("chat.update", delay=1.5, times=100)
    reject(stack, request_id, APPROVER)
    stack.wait_status(request_id, "rejected")
    stack.wait_until(lambda: stack.request(request_id).card_dirty, what="the card to be marked stale")
    stack.slack.heal()
    stack.wait_idle()
    let_the_back_off_pass(stack)
    sweep_once(stack.services)
    assert "Rejected" in card_of(stack, request_id)["json"]


def test_thread_lines_are_posted_once_even_when_syncs_race(stack: LocalStack) -> None:
    import threading

    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer asked")
    # The card's poster holds the thread until its first line is shown: let it finish, so that the eight race
    # each other and the lines are all posted once they have joined.
    stack.wait_idle()
    with stack.services.database.write() as db:
        for n in range(5):
            audit.append(db, actor=APPROVER, action="note", request_id=request_id, detail={"n": n})
    threads = [
        threading.Thread(target=stack.services.delivery.sync, args=(stack.services.client, request_id))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_thread_shows_each_event_once(stack, request_id)


def let_the_back_off_pass(stack: LocalStack) -> None:
    """Time passes: every request backing off after a Slack failure is due again."""
    with stack.services.database.write() as db:
        db.execute(text("UPDATE cancellation_requests SET slack_retry_at = NULL"))


def assert_thread_shows_each_event_once(stack: LocalStack, request_id: str) -> None:
    lines = "\n".join(m.text for m in stack.slack.thread(CHANNEL, stack.request(request_id).card_ts or ""))
    shown = [int(line.split("`")[1].removeprefix("#")) for line in lines.splitlines() if line.startswith("`#")]
    with stack.services.database.write() as db:
        recorded = [e.sequence for e in audit.events_for_request(db, request_id)]
    assert sorted(shown) == recorded


def test_a_long_backlog_reaches_the_thread_whole_in_messages_within_slacks_limit(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1005 customer asked")
    stack.wait_idle()
    with stack.services.database.write() as db:
        for n in range(60):  # far more than one message holds, each line long
            audit.append(db, actor=APPROVER, action="note", request_id=request_id, detail={"why": f"{n} " + "w" * 150})
    before = len(stack.slack.thread(CHANNEL, stack.request(request_id).card_ts or ""))
    stack.services.delivery.sync(stack.services.client, request_id)
    posted = stack.slack.thread(CHANNEL, stack.request(request_id).card_ts or "")[before:]
    assert len(posted) >= 3 and all(len(m.text) <= blocks.MESSAGE_LIMIT for m in posted)
    assert_thread_shows_each_event_once(stack, request_id)


def test_slack_failing_part_way_through_a_backlog_repeats_no_line_and_loses_none(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer asked")
    stack.wait_idle()
    with stack.services.database.write() as db:
        for n in range(60):
            audit.append(db, actor=APPROVER, action="note", request_id=request_id, detail={"why": f"{n} " + "w" * 150})
    stack.services.client.retry_handlers.clear()  # no retries: the second message fails outright
    stack.slack.fail("chat.postMessage", status=500, error="internal_error", after=1)
    with stack.services.database.read() as db:
        shown_before = requests.get(db, request_id).thread_sequence
    stack.services.delivery.sync(stack.services.client, request_id)  # one message posted, then a failure
    with stack.services.database.read() as db:
        shown_after = requests.get(db, request_id).thread_sequence
        last = audit.events_for_request(db, request_id)[-1].sequence
    assert shown_before < shown_after < last  # what the posted message carries, and nothing more
    let_the_back_off_pass(stack)
    sweep_once(stack.services)
    assert_thread_shows_each_event_once(stack, request_id)


def test_a_permanent_slack_error_ends_the_catch_up_with_an_audit_event_and_one_admin_dm(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    stack.slack.fail("chat.update", status=200, error="message_not_found", times=100)
    reject(stack, request_id, APPROVER)
    stack.wait_status(request_id, "rejected")
    stack.wait_idle()
    stack.wait_until(lambda: stack.request(request_id).slack_gave_up == "message_not_found", what="the give-up")
    updates = len(stack.slack.calls_to("chat.update"))
    for _ in range(3):
        sweep_once(stack.services)
    assert len(stack.slack.calls_to("chat.update")) == updates  # never asked again
    with stack.services.database.read() as db:
        gave_up = [e for e in audit.events_for_request(db, request_id) if e.action == "slack.gave_up"]
    assert len(gave_up) == 1 and '"message_not_found"' in gave_up[0].detail
    told = [m for m in stack.slack.dms(ADMIN) if request_id in m.text and "for good" in m.text]
    assert len(told) == 1
    assert chain_ok(stack)


def test_a_transient_slack_error_backs_off_and_the_catch_up_goes_oldest_first(stack: LocalStack) -> None:
    first = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    second = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    stack.wait_idle()
    stack.slack.fail("chat.update", status=500, error="internal_error", times=1000)
    for request_id in (second, first):
        reject(stack, request_id, APPROVER)
        stack.wait_status(request_id, "rejected")
    stack.wait_idle()
    assert all(stack.request(r).slack_retry_at is not None for r in (first, second))
    updates = len(stack.slack.calls_to("chat.update"))
    sweep_once(stack.services)
    assert len(stack.slack.calls_to("chat.update")) == updates  # both still backing off
    let_the_back_off_pass(stack)
    stack.slack.heal()
    sweep_once(stack.services)
    shown = [c.args["ts"] for c in stack.slack.calls_to("chat.update")[updates:]]
    assert shown == [stack.request(first).card_ts, stack.request(second).card_ts]  # oldest first
    assert stack.request(first).slack_failures == 0 and not stack.request(first).card_dirty
