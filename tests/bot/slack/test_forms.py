"""The request form through the real HTTP endpoint: `/cancel-sub` alone, the global shortcut, the App Home button
and the message shortcut open it; a submission asks as the command does, and each problem shows on its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.demo.stack import LocalStack
from bot.slack import forms
from storage import audit
from tests.bot.conftest import AGENT, CHANNEL, STRANGER

OTHER_CHANNEL = "C0OTHER01"


def opened(stack: LocalStack, before: int) -> dict[str, Any]:
    stack.wait_until(lambda: len(stack.slack.modals) > before, what="the request form")
    form = stack.slack.modals[-1]
    assert form["callback_id"] == forms.REQUEST_VIEW
    return form


def block(form: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in form["blocks"] if b.get("block_id") == block_id)


def filled(
    provider: str = "sandbox",
    subscription: str = "sb_1001",
    reason: str = "customer asked by email",
    ticket: str = "",
    channel: str = CHANNEL,
) -> dict[str, dict[str, Any]]:
    return {
        forms.PROVIDER: {forms.PROVIDER: {"type": "static_select", "selected_option": {"value": provider}}},
        forms.SUBSCRIPTION: {forms.SUBSCRIPTION: subscription},
        forms.REASON: {forms.REASON: reason},
        forms.TICKET: {forms.TICKET: {"type": "url_text_input", "value": ticket or None}},
        forms.CHANNEL: {forms.CHANNEL: {"type": "conversations_select", "selected_conversation": channel or None}},
    }


def cards_in(stack: LocalStack, channel: str) -> list[Any]:
    return stack.slack.channel_messages(channel)


@pytest.mark.parametrize("typed", ["", "new"])
def test_the_command_alone_opens_the_form_and_a_submission_posts_the_card(stack: LocalStack, typed: str) -> None:
    answer = stack.driver.command(typed, user=AGENT)
    assert answer.status_code == 200 and not answer.content  # nothing to say: the form is the answer
    form = opened(stack, 0)
    assert block(form, forms.CHANNEL)["element"]["initial_conversation"] == CHANNEL
    assert block(form, forms.PROVIDER)["element"]["initial_option"]["value"] == "sandbox"  # the only one
    ticket = "https://support.example.com/tickets/4812?view=full&x=1"
    submitted = stack.driver.submit(form, user=AGENT, values=filled(ticket=ticket, channel=OTHER_CHANNEL))
    assert submitted.status_code == 200 and not submitted.content  # the form closes
    stack.wait_until(lambda: len(cards_in(stack, OTHER_CHANNEL)) == 1, what="the card in the chosen channel")
    request_id = stack.latest_request_id(OTHER_CHANNEL)
    request = stack.request(request_id)
    assert request.ticket_link == ticket and request.requester == AGENT
    card = json.dumps(cards_in(stack, OTHER_CHANNEL)[0].blocks)
    assert "https://support.example.com/tickets/4812?view=full&amp;x=1" in card
    stack.wait_until(lambda: any(request_id in m.text for m in stack.slack.dms(AGENT)), what="the DM saying so")
    with stack.services.database.read() as db:
        created = next(e for e in audit.events_for_request(db, request_id) if e.action == "request.created")
    assert json.loads(created.detail)["ticket"] == ticket


def test_each_problem_is_shown_on_its_field_and_nothing_is_asked(stack: LocalStack) -> None:
    stack.driver.command("", user=AGENT)
    form = opened(stack, 0)
    answer = stack.driver.submit(
        form,
        user=AGENT,
        values=filled(provider="stripe", reason="no", ticket="javascript:alert(1)", channel=""),
    )
    errors = answer.json()["errors"]
    assert answer.json()["response_action"] == "errors"
    assert set(errors) == {forms.PROVIDER, forms.REASON, forms.TICKET, forms.CHANNEL}
    bad_id = stack.driver.submit(form, user=AGENT, values=filled(subscription="not an id!")).json()
    assert "is not a sandbox id" in bad_id["errors"][forms.SUBSCRIPTION]
    nul = stack.driver.submit(form, user=AGENT, values=filled(reason="bad\x00reason")).json()
    assert "control characters" in nul["errors"][forms.REASON]
    stack.wait_idle()
    assert cards_in(stack, CHANNEL) == []


def test_a_form_sent_twice_makes_one_request(stack: LocalStack) -> None:
    stack.driver.command("", user=AGENT)
    form = opened(stack, 0)
    for _ in range(2):
        stack.driver.submit(form, user=AGENT, values=filled(subscription="sb_1002"))
    stack.wait_until(lambda: len(cards_in(stack, CHANNEL)) == 1, what="the card")
    stack.wait_idle()
    assert len(cards_in(stack, CHANNEL)) == 1


def test_the_global_shortcut_and_the_home_button_open_the_form_with_the_channel_to_pick(stack: LocalStack) -> None:
    stack.driver.send_payload(stack.driver.shortcut_payload(forms.NEW_REQUEST, user=AGENT))
    form = opened(stack, 0)
    assert "initial_conversation" not in block(form, forms.CHANNEL)["element"]
    stack.driver.click(forms.NEW_REQUEST, "new", user=AGENT, from_home=True)
    opened(stack, 1)


def test_someone_without_the_role_gets_no_form_and_is_told_why(stack: LocalStack) -> None:
    stack.driver.send_payload(stack.driver.shortcut_payload(forms.NEW_REQUEST, user=STRANGER))
    stack.wait_until(lambda: any("requester role" in m.text for m in stack.slack.dms(STRANGER)), what="the DM")
    refused = stack.driver.command("", user=STRANGER)
    assert "requester role" in refused.text
    assert stack.slack.modals == []


def test_the_message_shortcut_drafts_the_reason_and_links_the_message(stack: LocalStack) -> None:
    text = "Ticket #4812 from jane: please cancel my <https://shop.example|subscription>, moving abroad\n\nThanks"
    payload = stack.driver.message_shortcut_payload(forms.FROM_MESSAGE, user=AGENT, message_text=text)
    stack.driver.send_payload(payload)
    form = opened(stack, 0)
    draft = block(form, forms.REASON)["element"]["initial_value"]
    assert draft.startswith("Ticket #4812 from jane: please cancel my") and "\n" not in draft
    permalink = block(form, forms.TICKET)["element"]["initial_value"]
    assert permalink == f"https://acme.slack.com/archives/{CHANNEL}/p1700000000000200"
    assert block(form, forms.CHANNEL)["element"]["initial_conversation"] == CHANNEL
    stack.driver.submit(form, user=AGENT, values=filled(reason=draft, ticket=permalink))
    stack.wait_until(lambda: len(cards_in(stack, CHANNEL)) == 1, what="the card")
    assert stack.request(stack.latest_request_id(CHANNEL)).ticket_link == permalink


def test_the_form_stays_within_block_kit_limits_whatever_the_message(stack: LocalStack) -> None:
    hostile = ("<!channel> " + "x" * 60 + " ") * 200  # 14 000 characters
    payload = stack.driver.message_shortcut_payload(forms.FROM_MESSAGE, user=AGENT, message_text=hostile)
    stack.driver.send_payload(payload)
    form = opened(stack, 0)
    assert len(form["title"]["text"]) <= 24 and len(form["submit"]["text"]) <= 24 and len(form["blocks"]) <= 100
    reason = block(form, forms.REASON)["element"]
    assert len(reason["initial_value"]) <= reason["max_length"] == 500
    for each in form["blocks"]:
        if each["type"] == "input":
            assert len(each["label"]["text"]) <= 2000 and len(each.get("hint", {}).get("text", "")) <= 2000
