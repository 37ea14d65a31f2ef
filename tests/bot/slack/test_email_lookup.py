"""Asking with the customer's email: the provider is searched, the agent picks one of the customer's subscriptions
(a paged list after the command, a select after the form), and the request goes on as with an id. The email
reaches no log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.demo.stack import LocalStack
from bot.slack import forms, picking
from providers.onekey import OneKeyProvider
from providers.sandbox import SandboxProvider
from tests.bot.conftest import AGENT, CHANNEL
from tests.bot.slack.test_forms import filled, opened
from tests.bot.slack.test_scenarios import scripted_registry
from tests.support.providers import ScriptedServer, Sleeps


def latest_answer(stack: LocalStack, before: int) -> Any:
    stack.wait_until(lambda: len(stack.slack.ephemerals(AGENT)) > before, what="the answer with the choices")
    return stack.slack.ephemerals(AGENT)[-1]


def buttons(message: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in message.blocks:
        for element in [block.get("accessory") or {}, *block.get("elements", [])]:
            if element.get("type") == "button":
                value = json.loads(element["value"])
                found[value.get("subscription") or element["action_id"]] = element
    return found


def press(stack: LocalStack, element: dict[str, Any]) -> None:
    stack.driver.click(element["action_id"], element["value"], user=AGENT, channel=CHANNEL)


def test_the_command_with_an_email_lists_the_customers_subscriptions_and_a_pick_asks(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ack = stack.driver.command("sandbox Ada@Example.com customer asked by email", user=AGENT)
    assert "Looking for the customer's subscriptions at Sandbox" in ack.text
    answer = latest_answer(stack, 0)
    choices = buttons(answer)
    assert set(choices) == {"sb_1001", "sb_1006"}
    assert "Pro monthly" in json.dumps(answer.blocks) and "Team yearly" in json.dumps(answer.blocks)
    press(stack, choices["sb_1006"])
    stack.wait_until(lambda: len(stack.slack.channel_messages(CHANNEL)) == 1, what="the card")
    request = stack.request(stack.latest_request_id(CHANNEL))
    assert request.subscription_id == "sb_1006" and request.reason == "customer asked by email"
    stack.wait_idle()
    assert "example.com" not in caplog.text.lower()


def test_many_subscriptions_are_paged_active_ones_first_and_never_cut(stack: LocalStack) -> None:
    stack.driver.command("sandbox many@example.com moving to another school", user=AGENT)
    seen: list[str] = []
    answer = latest_answer(stack, 0)
    for _ in range(5):
        choices = buttons(answer)
        seen += [key for key in choices if key.startswith("sb_")]
        following = next((b for k, b in choices.items() if k.endswith("_next")), None)
        if following is None:
            break
        answer = turn_page(stack, following)
        assert any(k.endswith("_prev") for k in buttons(answer))
    assert len(seen) == 12 and len(set(seen)) == 12
    cancelled = {"sb_7004", "sb_7008", "sb_7012"}
    assert set(seen[-3:]) == cancelled  # the cancelled ones last


def turn_page(stack: LocalStack, button: dict[str, Any]) -> Any:
    before = len(stack.slack.ephemerals(AGENT))
    press(stack, button)
    return latest_answer(stack, before)


def test_no_customer_with_that_email_is_said_plainly(stack: LocalStack) -> None:
    stack.driver.command("sandbox nobody@example.com customer asked", user=AGENT)
    assert "No customer at Sandbox (test data) has that email" in latest_answer(stack, 0).text


def test_onekey_says_it_needs_the_subscription_id(make_stack: Any) -> None:
    onekey = OneKeyProvider(
        client=ScriptedServer().client(), api_key="k", api_signature="s", base_url="https://o.test", sleep=Sleeps()
    )
    stack = make_stack(registry=scripted_registry(onekey=onekey, sandbox=SandboxProvider()))
    ack = stack.driver.command("onekey jane@example.com customer asked", user=AGENT)
    assert "cannot look a customer up by email: give the subscription id" in ack.text
    stack.driver.command("", user=AGENT)
    form = opened(stack, 0)
    answer = stack.driver.submit(form, user=AGENT, values=filled(provider="onekey", subscription="jane@example.com"))
    assert "give the subscription id" in answer.json()["errors"][forms.SUBSCRIPTION]


def test_the_form_with_an_email_shows_the_choices_in_its_place_and_a_pick_asks(stack: LocalStack) -> None:
    stack.driver.command("", user=AGENT)
    form = opened(stack, 0)
    ticket = "https://support.example.com/t/1"
    answer = stack.driver.submit(form, user=AGENT, values=filled(subscription="ada@example.com", ticket=ticket))
    assert answer.json()["response_action"] == "update"
    assert "Looking for the customer's subscriptions" in json.dumps(answer.json()["view"])
    stack.wait_until(
        lambda: (
            stack.slack.modals[-1].get("callback_id") == picking.PICK_VIEW
            and any(b.get("block_id") == picking.CHOICE for b in stack.slack.modals[-1]["blocks"])
        ),
        what="the choices in the form",
    )
    step = stack.slack.modals[-1]
    options = next(b for b in step["blocks"] if b.get("block_id") == picking.CHOICE)["element"]["options"]
    assert [o["value"] for o in options] == ["sb_1001", "sb_1006"] or [o["value"] for o in options] == [
        "sb_1006",
        "sb_1001",
    ]
    values = {picking.CHOICE: {picking.CHOICE: {"type": "static_select", "selected_option": {"value": "sb_1001"}}}}
    assert not stack.driver.submit(step, user=AGENT, values=values).content
    stack.wait_until(lambda: len(stack.slack.channel_messages(CHANNEL)) == 1, what="the card")
    request = stack.request(stack.latest_request_id(CHANNEL))
    assert request.subscription_id == "sb_1001" and request.ticket_link == ticket


def test_a_forged_pick_is_checked_as_if_typed(stack: LocalStack) -> None:
    forged = picking.Asked(provider="sandbox", reason="x", channel=CHANNEL).encode(subscription="sb_1001")
    stack.driver.click(picking.PICK, forged, user=AGENT, channel=CHANNEL)
    stack.wait_until(
        lambda: any("3 to 500 characters" in m.text for m in stack.slack.ephemerals(AGENT)), what="the refusal"
    )
    stack.driver.click(picking.PICK, "not json", user=AGENT, channel=CHANNEL)
    stack.wait_until(lambda: any("could not be read" in m.text for m in stack.slack.ephemerals(AGENT)), what="it")
    stack.wait_idle()
    assert stack.slack.channel_messages(CHANNEL) == []
