"""Reject asks why in a form: the reason (required when REJECT_REASON_REQUIRED) is on the card, in the thread, in
the requester's DM and in the audit; a problem with it is shown on the field and the form stays open."""

from __future__ import annotations

import json
from typing import Any

from bot.demo.stack import LocalStack
from bot.slack import blocks
from storage import audit
from tests.bot.conftest import AGENT, APPROVER, CHANNEL, STRANGER
from tests.bot.slack.test_scenarios import ask_and_get_id, click, ephemeral_to


def open_form(stack: LocalStack, request_id: str, user: str = APPROVER) -> dict[str, Any]:
    before = len(stack.slack.modals)
    click(stack, blocks.REJECT, request_id, user)
    stack.wait_until(lambda: len(stack.slack.modals) > before, what="the reject form")
    form = stack.slack.modals[-1]
    assert form["callback_id"] == blocks.REJECT_VIEW and form["private_metadata"] == request_id
    return form


def reason_values(reason: str) -> dict[str, dict[str, str]]:
    return {blocks.REASON_BLOCK: {blocks.REASON_INPUT: reason}}


def test_a_rejection_with_its_reason_reaches_card_thread_requester_and_audit(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    form = open_form(stack, request_id)
    assert len(json.dumps(form["title"])) and form["title"]["text"] == "Reject request"
    reason = "Customer changed their mind <!channel> (ticket #4812)"
    answer = stack.driver.submit(form, user=APPROVER, values=reason_values(reason))
    assert answer.status_code == 200 and not answer.content  # the form closes
    request = stack.wait_status(request_id, "rejected")
    assert request.decision_reason == reason and request.decided_by == APPROVER
    shown = "Customer changed their mind &lt;!channel&gt; (ticket #4812)"
    stack.wait_until(lambda: shown in json.dumps(stack.slack.card(CHANNEL, request.card_ts or "").blocks), what="card")
    stack.wait_until(
        lambda: any(shown in m.text for m in stack.slack.thread(CHANNEL, request.card_ts or "")), what="thread line"
    )
    stack.wait_until(lambda: any(shown in m.text for m in stack.slack.dms(AGENT)), what="the requester's DM")
    with stack.services.database.read() as db:
        rejected = [e for e in audit.events_for_request(db, request_id) if e.action == "request.rejected"]
    assert json.loads(rejected[0].detail)["why"] == reason


def test_an_empty_reason_is_refused_on_the_field_when_required(make_stack: Any) -> None:
    stack = make_stack(reject_reason_required=True)
    request_id = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    form = open_form(stack, request_id)
    assert not next(b for b in form["blocks"] if b.get("block_id") == blocks.REASON_BLOCK).get("optional")
    for typed, says in (("", "A reason is required"), ("no", "3 to 500 characters"), ("bad\x00", "control")):
        answer = stack.driver.submit(form, user=APPROVER, values=reason_values(typed))
        assert answer.json()["response_action"] == "errors"
        assert says in answer.json()["errors"][blocks.REASON_BLOCK]
    assert stack.request(request_id).status == "pending"
    stack.driver.submit(form, user=APPROVER, values=reason_values("duplicate of CR-1"))
    assert stack.wait_status(request_id, "rejected").decision_reason == "duplicate of CR-1"


def test_without_the_setting_the_reason_may_be_left_out(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    form = open_form(stack, request_id)
    stack.driver.submit(form, user=APPROVER, values=reason_values(""))
    request = stack.wait_status(request_id, "rejected")
    assert request.decision_reason is None


def test_no_form_for_someone_without_the_role_or_a_request_already_decided(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer asked")
    click(stack, blocks.REJECT, request_id, STRANGER)
    ephemeral_to(stack, STRANGER, "needs the approver role")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    stack.wait_status(request_id, "cancelled")
    click(stack, blocks.REJECT, request_id, APPROVER)
    ephemeral_to(stack, APPROVER, "You already decided")
    assert stack.slack.modals == []


def test_a_form_sent_after_someone_else_decided_changes_nothing_and_says_so(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1005 customer asked")
    form = open_form(stack, request_id)
    click(stack, blocks.APPROVE, request_id, "U0APPROV2")
    stack.wait_status(request_id, "cancelled")
    stack.driver.submit(form, user=APPROVER, values=reason_values("too late for this"))
    stack.wait_until(lambda: any("Too late" in m.text for m in stack.slack.dms(APPROVER)), what="the DM saying so")
    assert stack.request(request_id).status == "cancelled"
