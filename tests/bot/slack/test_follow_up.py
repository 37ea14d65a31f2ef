"""Requests left waiting: one reminder in the card's thread naming the approvers (or their user group), then one
DM to each admin; each once per request, with any number of replicas sweeping (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import text as sql

from bot.demo.stack import LocalStack
from bot.runtime.sweeper import follow_up, sweep_once
from bot.slack import blocks
from storage import audit
from tests.bot.conftest import ADMIN, AGENT, APPROVER, APPROVER_2, CHANNEL, grant_defaults
from tests.bot.slack.test_scenarios import ask_and_get_id, click


def age(stack: LocalStack, request_id: str, minutes: int) -> None:
    with stack.services.database.engine.begin() as connection:
        connection.execute(
            sql("UPDATE cancellation_requests SET created_at = :t WHERE id = :id"),
            {"t": audit.utcnow() - timedelta(minutes=minutes), "id": request_id},
        )


def events(stack: LocalStack, request_id: str, action: str) -> list[Any]:
    with stack.services.database.read() as db:
        return [e for e in audit.events_for_request(db, request_id) if e.action == action]


def thread_text(stack: LocalStack, request_id: str) -> str:
    return "\n".join(m.text for m in stack.slack.thread(CHANNEL, stack.request(request_id).card_ts or ""))


def test_a_waiting_request_is_reminded_once_then_escalated_once(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    decided = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    click(stack, blocks.APPROVE, decided, APPROVER)
    stack.wait_status(decided, "cancelled")
    for waiting in (request_id, decided):
        age(stack, waiting, 61)
    sweep_once(stack.services)
    sweep_once(stack.services)
    assert len(events(stack, request_id, "request.reminded")) == 1
    assert events(stack, decided, "request.reminded") == []  # only what still waits
    stack.wait_until(lambda: "reminded the approvers" in thread_text(stack, request_id), what="the reminder")
    line = next(t for t in thread_text(stack, request_id).splitlines() if "reminded the approvers" in t)
    assert f"<@{APPROVER}>" in line and f"<@{APPROVER_2}>" in line and f"<@{AGENT}>" not in line
    assert not any(request_id in m.text for m in stack.slack.dms(ADMIN))

    age(stack, request_id, 241)
    sweep_once(stack.services)
    sweep_once(stack.services)
    assert len(events(stack, request_id, "request.escalated")) == 1
    assert len(events(stack, request_id, "request.reminded")) == 1
    told = [m.text for m in stack.slack.dms(ADMIN) if request_id in m.text]
    assert len(told) == 1 and "has waited 241 minutes" in told[0] and f"<#{CHANNEL}>" in told[0]
    stack.wait_until(lambda: "told the admins" in thread_text(stack, request_id), what="the escalation line")


def test_a_user_group_is_mentioned_instead_of_each_approver(make_stack: Any) -> None:
    stack = make_stack(approvers_group="S0APPROVE1")
    request_id = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    age(stack, request_id, 90)
    follow_up(stack.services)
    stack.wait_until(lambda: "<!subteam^S0APPROVE1>" in thread_text(stack, request_id), what="the group mention")
    assert f"<@{APPROVER}>" not in thread_text(stack, request_id)


def test_zero_turns_reminders_and_escalation_off(make_stack: Any) -> None:
    stack = make_stack(remind_after_minutes=0, escalate_after_minutes=0)
    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer asked")
    age(stack, request_id, 10_000)
    done = follow_up(stack.services)
    assert done.reminded == [] and done.escalated == []


def test_replicas_sweeping_at_once_remind_and_escalate_once(database_url: str) -> None:
    first, second = LocalStack(database_url), LocalStack(database_url)
    grant_defaults(first)
    try:
        request_ids = [ask_and_get_id(first, f"sandbox sb_many_{n} customer asked") for n in range(1, 6)]
        for request_id in request_ids:
            age(first, request_id, 300)
        start = threading.Barrier(4)

        def sweep(stack: LocalStack) -> None:
            start.wait()
            follow_up(stack.services)

        sweepers = [threading.Thread(target=sweep, args=(s,)) for s in (first, second, first, second)]
        for sweeper in sweepers:
            sweeper.start()
        for sweeper in sweepers:
            sweeper.join(30)
        for request_id in request_ids:
            assert len(events(first, request_id, "request.reminded")) == 1
            assert len(events(first, request_id, "request.escalated")) == 1
        first.wait_idle()
        second.wait_idle()
        escalation_dms = [m for m in [*first.slack.dms(ADMIN), *second.slack.dms(ADMIN)] if "has waited" in m.text]
        assert len(escalation_dms) == len(request_ids)
    finally:
        second.close()
        first.close()
