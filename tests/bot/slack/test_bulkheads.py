"""Bulkheads: a slow provider fills only its own pool, a full pool is said plainly with nothing half-done, and the
App Home acks before it publishes, whatever `views.publish` does."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bot.demo.stack import LocalStack
from bot.runtime.services import work_threads
from bot.slack import blocks
from providers.registry import Registry
from providers.sandbox import SandboxProvider
from tests.bot.conftest import ADMIN, AGENT, APPROVER, CHANNEL
from tests.bot.slack.test_admin import open_home
from tests.bot.slack.test_scenarios import ask_and_get_id, click
from tests.support.providers import HeldSandbox


class FastSandbox(SandboxProvider):
    name = "fast"
    label = "Fast sandbox"


def two_providers(make_stack: Any, **settings: Any) -> tuple[LocalStack, HeldSandbox]:
    held = HeldSandbox(lookups=True)
    stack = make_stack(registry=Registry({"sandbox": held, "fast": FastSandbox()}), **settings)
    return stack, held


def cards(stack: LocalStack) -> int:
    return len(stack.slack.channel_messages(CHANNEL))


def test_a_fast_providers_card_is_posted_within_a_second_while_another_provider_hangs(make_stack: Any) -> None:
    stack, held = two_providers(make_stack, listener_threads=16)
    try:
        for n in range(16):
            answer = stack.driver.command(f"sandbox sb_many_{n + 1} customer asked", user=AGENT)
            assert "Looking up" in answer.text
        time.sleep(0.2)  # the sixteen are waiting on the held provider
        before = cards(stack)
        started = time.monotonic()
        stack.driver.command("fast sb_1001 customer asked", user=AGENT)
        stack.wait_until(lambda: cards(stack) > before, what="the fast provider's card", timeout=5)
        took = time.monotonic() - started
        assert took < 1.0, f"the fast provider's card took {took:.2f} s"
    finally:
        held.release.set()
    stack.wait_until(lambda: cards(stack) == 17, what="the held requests' cards once the provider answers")


def test_a_full_provider_bulkhead_is_said_plainly_and_nothing_is_half_done(make_stack: Any) -> None:
    stack, held = two_providers(make_stack, listener_threads=2, queue_limit=2)
    places = work_threads(2) + 2  # three looking up, two waiting: full
    try:
        for n in range(places):
            assert "Looking up" in stack.driver.command(f"sandbox sb_many_{n + 1} customer asked", user=AGENT).text
        refused = stack.driver.command("sandbox sb_many_9 customer asked", user=AGENT)
        assert "Sandbox (test data) is slow to answer" in refused.text and "Nothing was asked" in refused.text
        assert "Looking up" in stack.driver.command("fast sb_1001 customer asked", user=AGENT).text
        stack.wait_until(lambda: cards(stack) == 1, what="the fast provider's card")
    finally:
        held.release.set()
    stack.wait_until(lambda: cards(stack) == places + 1, what="the held requests' cards")
    stack.wait_idle()
    with stack.services.database.read() as db:
        subscriptions = {row[0] for row in db.exec_driver_sql("SELECT subscription_id FROM cancellation_requests")}
    assert "sb_many_9" not in subscriptions and len(subscriptions) == places + 1


def test_an_approval_refused_by_a_full_bulkhead_changes_nothing_and_says_so(make_stack: Any) -> None:
    stack, held = two_providers(make_stack, listener_threads=1, queue_limit=0)
    held.release.set()
    stack.driver.command("sandbox sb_1001 customer asked", user=AGENT)
    stack.wait_until(lambda: cards(stack) == 1, what="the card")
    request_id = stack.latest_request_id(CHANNEL)
    stack.wait_until(lambda: stack.request(request_id).card_ts is not None, what="the card recorded")
    stack.wait_idle()
    held.release.clear()
    for n in range(work_threads(1)):  # take each of the provider's places
        assert "Looking up" in stack.driver.command(f"sandbox sb_many_{n + 1} customer asked", user=AGENT).text
    stack.driver.click("cancel_sub_approve", request_id, user=APPROVER, channel=CHANNEL)
    stack.wait_until(
        lambda: any("is slow to answer" in m.text for m in stack.slack.ephemerals(APPROVER)), what="the busy answer"
    )
    assert stack.request(request_id).status == "pending"
    held.release.set()


def test_the_app_home_acks_at_once_however_slow_views_publish_is(stack: LocalStack) -> None:
    stack.slack.fail("views.publish", delay=2.0, times=3)
    stack.slack.fail("views.publish", status=429, error="ratelimited", retry_after=4, times=2)
    users = [f"U0HOME{n:04d}" for n in range(12)]
    started = time.monotonic()
    for user in users:
        open_home_without_waiting(stack, user)
    acks = time.monotonic() - started
    help_started = time.monotonic()
    assert "asks for a subscription" in stack.driver.command("help", user=AGENT).text
    help_ack = time.monotonic() - help_started
    assert acks < 12 * 0.2 and help_ack < 0.5, f"twelve Home acks {acks:.2f} s, help {help_ack:.2f} s"
    open_home(stack, ADMIN)  # published in the end, after the slow ones


def open_home_without_waiting(stack: LocalStack, user: str) -> None:
    body = json.dumps(stack.driver.home_opened_payload(user))
    headers = {**stack.driver.signed_headers(body), "Content-Type": "application/json"}
    response = httpx.post(stack.driver.endpoint, content=body, headers=headers, timeout=5)
    assert response.status_code == 200


def test_a_form_opens_within_its_three_seconds_while_the_slack_threads_wait_out_a_rate_limit(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    stack.wait_idle()
    for _ in range(stack.settings.slack_threads + 2):  # every Slack thread busy for 4 s, and more waiting
        stack.services.slack_pool.submit(time.sleep, 4)
    click(stack, blocks.REJECT, request_id, APPROVER)
    stack.wait_until(lambda: len(stack.slack.modals) == 1, what="the reject form", timeout=2.5)
    stack.driver.command("", user=AGENT)
    stack.wait_until(lambda: len(stack.slack.modals) == 2, what="the request form", timeout=2.5)
    assert not any("could not open the form" in m.text for m in stack.slack.ephemerals())


def test_a_trigger_is_refused_after_three_seconds_as_slack_does(stack: LocalStack) -> None:
    stale = f"{int((time.time() - 4) * 1000)}.123.abc"
    body = stack.driver.command_body("", user=AGENT, trigger_id=stale)
    assert stack.driver.post(body).status_code == 200
    stack.wait_until(lambda: any("could not open the form" in m.text for m in stack.slack.ephemerals(AGENT)), what="it")
    assert stack.slack.modals == []
