"""Steps of one request that wait together for a Slack thread are shown once, at the latest, with nothing lost."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.demo.stack import LocalStack
from bot.slack import blocks
from bot.slack.delivery import Delivery
from storage import audit, requests
from tests.bot.conftest import AGENT, APPROVER
from tests.bot.slack.test_scenarios import ask_and_get_id, card_of, chain_ok, click


def hold_slack_threads(stack: LocalStack) -> threading.Event:
    """Every Slack thread busy until the returned event is set."""
    release = threading.Event()
    for _ in range(stack.settings.slack_threads):
        stack.services.slack_pool.submit(release.wait, 30)
    return release


def test_an_approval_and_its_cancel_waiting_for_slack_become_one_card_update(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    stack.wait_idle()
    release = hold_slack_threads(stack)
    updates_before = len(stack.slack.calls_to("chat.update"))
    try:
        click(stack, blocks.APPROVE, request_id, APPROVER)
        stack.wait_status(request_id, "cancelled")  # approved and cancelled while Slack's threads were busy
    finally:
        release.set()
    stack.wait_idle()

    updates = stack.slack.calls_to("chat.update")[updates_before:]
    assert len(updates) == 1, [u.args.get("text") for u in updates]
    assert "Cancelled" in str(updates[0].args.get("blocks")) and "cancelling" not in str(updates[0].args)
    messages = card_of(stack, request_id)["thread"]
    lines = [line for message in messages for line in message.splitlines() if line.startswith("`#")]
    said = [" · ".join(line.split(" · ")[1:]) for line in lines]  # each event once, in order
    assert len(said) == 3 and "asked to cancel" in said[0] and said[1].endswith("approved"), said
    assert "*cancelled*" in said[2], said
    assert len(messages) == 2  # the two lines Slack was shown late went in one message
    dms = stack.slack.dms(AGENT)
    assert len(dms) == 1 and "cancelled" in dms[0].text.lower(), [m.text for m in dms]
    shown = stack.request(request_id)
    assert shown.notified_status == "cancelled" and not shown.card_dirty and chain_ok(stack)


class HandOver:
    """Slack threads that keep the work handed to them without running it, or refuse it."""

    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.queued: list[tuple[Any, ...]] = []

    def __call__(self, *work: Any) -> bool:
        if self.accept:
            self.queued.append(work)
        return self.accept


def test_a_step_the_full_slack_threads_refused_is_not_joined_by_the_next(stack: LocalStack) -> None:
    """A refused or failed hand-over leaves nothing waiting: the next step queues a sync of its own rather than
    joining one that no thread will ever take up."""
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    stack.wait_idle()
    request = stack.request(request_id)
    delivery, client = stack.services.delivery, stack.services.client
    full, threads = HandOver(accept=False), HandOver()
    assert not delivery.sync_soon(full, client, request, [])

    def stopped(*_work: Any) -> bool:
        raise RuntimeError("cannot schedule new futures after shutdown")

    with pytest.raises(RuntimeError):
        delivery.sync_soon(stopped, client, request, [])
    assert delivery.sync_soon(threads, client, request, [])
    assert delivery.sync_soon(threads, client, request, [])  # joins the waiting one
    assert len(threads.queued) == 1
    synced = run_recording_syncs(delivery, threads.queued[0])
    assert synced == [{"current": request, "events": None}]  # two steps' events: read again from the database
    assert delivery.sync_soon(threads, client, request, [])  # taken up: the next step queues again
    assert len(threads.queued) == 2


def test_a_step_handed_over_late_does_not_replace_a_newer_one_waiting(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    stack.wait_idle()
    request = stack.request(request_id)
    with stack.services.database.read() as db:
        (asked,) = audit.events_for_request(db, request_id)
    older = request.model_copy(update={"status": "executing"})
    newer = request.model_copy(update={"status": "cancelled"})
    delivery, client, threads = stack.services.delivery, stack.services.client, HandOver()
    delivery.sync_soon(threads, client, newer, [asked.model_copy(update={"sequence": asked.sequence + 2})])
    delivery.sync_soon(threads, client, older, [asked.model_copy(update={"sequence": asked.sequence + 1})])
    assert run_recording_syncs(delivery, threads.queued[0]) == [{"current": newer, "events": None}]


def run_recording_syncs(delivery: Delivery, work: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Run a queued sync with Delivery.sync replaced by a recorder of what it was given."""
    synced: list[dict[str, Any]] = []

    def record(*_args: Any, **kwargs: Any) -> bool:
        synced.append(kwargs)
        return True

    delivery.sync = record  # type: ignore[method-assign]
    run, *args = work
    assert run(*args)
    return synced


def test_a_card_shown_at_a_final_status_is_not_read_back(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """After each card update the status is read again, in case it moved on meanwhile; a final status cannot, so
    its update is not followed by that read. One still in progress is."""
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    stack.wait_status(request_id, "cancelled")
    stack.wait_idle()
    read_back: list[str] = []
    real_state_of = requests.state_of

    def state_of(db: Any, request_id: str) -> Any:
        read_back.append(request_id)
        return real_state_of(db, request_id)

    monkeypatch.setattr(requests, "state_of", state_of)
    delivery, client = stack.services.delivery, stack.services.client
    updates_before = len(stack.slack.calls_to("chat.update"))
    assert delivery.sync(client, request_id)
    assert len(stack.slack.calls_to("chat.update")) == updates_before + 1 and read_back == []

    pending_id = ask_and_get_id(stack, "sandbox sb_many_7 customer asked")
    stack.wait_idle()
    assert delivery.sync(client, pending_id)
    assert read_back == [pending_id]
