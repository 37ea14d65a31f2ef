"""The Slack workflow end to end: signed requests to the real HTTP endpoint, a fake Slack, real providers' code."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.core import decisions
from bot.demo.stack import LocalStack
from bot.runtime.sweeper import sweep_once
from bot.slack import blocks
from bot.slack.listeners import actions
from bot.slack.text import requester_dm
from providers.kajabi import KajabiProvider
from providers.onekey import OneKeyProvider
from providers.registry import Registry
from providers.sandbox import SandboxProvider
from storage import audit, chain, roles
from storage.models import Role
from tests.bot.conftest import ADMIN, AGENT, APPROVER, APPROVER_2, CHANNEL, STRANGER
from tests.support.providers import (
    JSON_API,
    HeldSandbox,
    ScriptedServer,
    Sleeps,
    json_response,
    purchase,
    raw,
    token,
)


def ask(stack: LocalStack, text: str, user: str = AGENT, channel: str = CHANNEL) -> httpx.Response:
    return stack.driver.command(text, user=user, channel=channel)


def ask_and_get_id(stack: LocalStack, text: str, user: str = AGENT) -> str:
    cards_before = len(stack.slack.channel_messages(CHANNEL))
    response = ask(stack, text, user)
    assert response.status_code == 200
    stack.wait_until(lambda: len(stack.slack.channel_messages(CHANNEL)) > cards_before, what="the card")
    request_id = stack.latest_request_id(CHANNEL)
    stack.wait_until(lambda: stack.request(request_id).card_ts is not None, what="the card to be recorded")
    return request_id


def click(stack: LocalStack, action: str, request_id: str, user: str) -> httpx.Response:
    response = stack.driver.click(action, request_id, user=user, channel=CHANNEL)
    assert response.status_code == 200
    return response


def reject(stack: LocalStack, request_id: str, user: str, reason: str = "the customer stays") -> None:
    """Reject through its form: the click opens it, the submission (with `reason`) decides."""
    before = len(stack.slack.modals)
    click(stack, blocks.REJECT, request_id, user)
    stack.wait_until(lambda: len(stack.slack.modals) > before, what="the reject form")
    values = {blocks.REASON_BLOCK: {blocks.REASON_INPUT: reason}}
    assert stack.driver.submit(stack.slack.modals[-1], user=user, values=values).status_code == 200


def ephemeral_to(stack: LocalStack, user: str, contains: str) -> None:
    stack.wait_until(
        lambda: any(contains in m.text for m in stack.slack.ephemerals(user)),
        what=f"an ephemeral to {user} containing {contains!r}",
    )


def card_of(stack: LocalStack, request_id: str) -> dict[str, Any]:
    request = stack.request(request_id)
    assert request.card_ts
    card = stack.slack.card(CHANNEL, request.card_ts)
    assert card is not None
    return {
        "text": card.text,
        "blocks": card.blocks,
        "json": json.dumps(card.blocks),
        "buttons": [e["action_id"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]],
        "thread": [m.text for m in stack.slack.thread(CHANNEL, request.card_ts)],
    }


def chain_ok(stack: LocalStack) -> bool:
    with stack.services.database.write() as db:
        return chain.verify(db).ok


def request_count(stack: LocalStack) -> int:
    with stack.services.database.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM cancellation_requests")).scalar_one())


# -- happy paths -----------------------------------------------------------------------------------------------


def test_sandbox_happy_path(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked by email")
    card = card_of(stack, request_id)
    assert card["buttons"] == [blocks.APPROVE, blocks.REJECT, blocks.WITHDRAW]
    for shown in (
        "Ada Lovelace",
        "Pro monthly",
        "49.00 USD",
        "cancels immediately, no refund, cannot be undone",
        "customer asked by email",
        f"<@{AGENT}>",
        "Expires",
    ):
        assert shown in card["json"], shown
    approve = next(
        e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == blocks.APPROVE
    )
    assert approve["style"] == "primary" and approve["confirm"]["title"]["text"]
    ephemeral_to(stack, AGENT, "waits for an approver")

    click(stack, blocks.APPROVE, request_id, APPROVER)
    done = stack.wait_status(request_id, "cancelled")
    stack.wait_until(lambda: "Cancelled" in card_of(stack, request_id)["json"], what="the final card")
    card = card_of(stack, request_id)
    assert card["buttons"] == []
    assert done.decided_by == APPROVER and done.outcome == "cancelled"

    def thread() -> str:
        return "\n".join(card_of(stack, request_id)["thread"])

    stack.wait_until(lambda: "*cancelled*" in thread(), what="the thread")
    assert "asked to cancel" in thread() and "approved" in thread()
    lines = [line for line in thread().splitlines() if line.startswith("`#")]
    assert len(lines) == len(set(lines)) == 3  # each event once
    # The cancel answered at once: the card went straight to its outcome, the approval and the outcome share one
    # thread message, and the requester heard once.
    updates = [str(c.args.get("blocks")) for c in stack.slack.calls_to("chat.update")]
    assert len(updates) == 1 and "Cancelled" in updates[0] and "cancelling" not in updates[0]
    assert len(card_of(stack, request_id)["thread"]) == 2
    stack.wait_until(lambda: stack.slack.dms(AGENT), what="the requester's DM")
    assert [dm.text for dm in stack.slack.dms(AGENT)] == [requester_dm(done)]
    sandbox = stack.services.registry["sandbox"]
    assert isinstance(sandbox, SandboxProvider) and sandbox.cancel_calls == ["sb_1001"]
    assert chain_ok(stack)


def test_a_cancel_slow_to_answer_is_shown_in_progress_then_settled(
    make_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "SHOW_EXECUTING_AFTER", 0.05)
    held = HeldSandbox(cancels=True)
    stack = make_stack(registry=Registry({"sandbox": held}))
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked by email")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    stack.wait_until(lambda: "cancelling" in card_of(stack, request_id)["json"], what="the card in progress")
    assert card_of(stack, request_id)["buttons"] == []
    stack.wait_until(lambda: len(stack.slack.dms(AGENT)) == 1, what="the requester's first DM")
    assert "cancelling" in stack.slack.dms(AGENT)[0].text
    assert stack.request(request_id).status == "executing"

    held.release.set()
    done = stack.wait_status(request_id, "cancelled")
    stack.wait_until(lambda: "Cancelled" in card_of(stack, request_id)["json"], what="the final card")
    stack.wait_until(lambda: len(stack.slack.dms(AGENT)) == 2, what="the requester's second DM")
    assert stack.slack.dms(AGENT)[1].text == requester_dm(done)
    stack.wait_until(lambda: "*cancelled*" in "\n".join(card_of(stack, request_id)["thread"]), what="the thread")
    lines = [line for m in card_of(stack, request_id)["thread"] for line in m.splitlines() if line.startswith("`#")]
    assert len(lines) == len(set(lines)) == 3
    assert held.cancel_calls == ["sb_1001"]
    assert chain_ok(stack)


def scripted_registry(**providers: Any) -> Registry:
    return Registry(providers)


def test_kajabi_happy_path_through_mock_transport(make_stack: Any) -> None:
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    server.on("GET", "/v1/purchases/2150820", json_response(200, purchase(), content_type=JSON_API))
    server.on(
        "GET",
        "/v1/customers/777",
        json_response(
            200,
            {
                "data": {
                    "id": "777",
                    "type": "customers",
                    "attributes": {"name": "Grace Hopper", "email": "grace@example.com"},
                }
            },
            content_type=JSON_API,
        ),
    )
    server.on(
        "GET",
        "/v1/offers/888",
        json_response(
            200,
            {"data": {"id": "888", "type": "offers", "attributes": {"title": "Academy yearly", "subscription": True}}},
            content_type=JSON_API,
        ),
    )
    server.on(
        "POST",
        "/v1/purchases/2150820/cancel_subscription",
        json_response(200, purchase(deactivated_at="2026-11-24T10:00:00Z"), content_type=JSON_API),
    )
    kajabi = KajabiProvider(
        client=server.client(), client_id="i", client_secret="s", base_url="https://k.test", sleep=Sleeps()
    )
    stack = make_stack(registry=scripted_registry(kajabi=kajabi))
    request_id = ask_and_get_id(stack, "kajabi 2150820 refund dispute, customer wants out")
    assert "Grace Hopper" in card_of(stack, request_id)["json"]
    assert server.calls("POST", "/v1/purchases/2150820/cancel_subscription") == []  # nothing before approval
    click(stack, blocks.APPROVE, request_id, APPROVER)
    assert stack.wait_status(request_id, "cancelled").outcome == "cancelled"
    assert len(server.calls("POST", "/v1/purchases/2150820/cancel_subscription")) == 1


def test_onekey_happy_path_through_mock_transport(make_stack: Any) -> None:
    server = ScriptedServer()
    server.on(
        "GET",
        "/v3/subscriptions/219",
        json_response(200, {"id": 219, "status": "ACTIVE", "amount": 10.9, "subscription_plan": "WEEKLY"}),
    )
    server.on("DELETE", "/v3/subscriptions/219", raw(200, b""))
    onekey = OneKeyProvider(
        client=server.client(), api_key="k", api_signature="s", base_url="https://o.test", sleep=Sleeps()
    )
    stack = make_stack(registry=scripted_registry(onekey=onekey))
    request_id = ask_and_get_id(stack, "onekey 219 duplicate subscription")
    assert "WEEKLY" in card_of(stack, request_id)["json"]
    click(stack, blocks.APPROVE, request_id, APPROVER)
    assert stack.wait_status(request_id, "cancelled").outcome == "cancelled"
    assert len(server.calls("DELETE", "/v3/subscriptions/219")) == 1


# -- decisions ---------------------------------------------------------------------------------------------------


def test_reject(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1002 duplicate account")
    reject(stack, request_id, APPROVER)
    rejected = stack.wait_status(request_id, "rejected")
    assert rejected.decided_by == APPROVER
    stack.wait_until(lambda: "Rejected" in card_of(stack, request_id)["json"], what="the rejected card")
    assert card_of(stack, request_id)["buttons"] == []
    assert stack.services.registry["sandbox"].cancel_calls == []  # type: ignore[attr-defined]
    click(stack, blocks.APPROVE, request_id, APPROVER_2)
    ephemeral_to(stack, APPROVER_2, f"already rejected by <@{APPROVER}>")


def test_withdraw_only_by_the_requester(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1003 asked by mistake")
    click(stack, blocks.WITHDRAW, request_id, APPROVER)
    ephemeral_to(stack, APPROVER, "Only the person who asked")
    assert stack.request(request_id).status == "pending"
    click(stack, blocks.WITHDRAW, request_id, AGENT)
    assert stack.wait_status(request_id, "withdrawn").decided_by == AGENT


def test_expired_requests_cannot_be_approved_and_the_card_says_so(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer request")
    with stack.services.database.engine.begin() as connection:
        connection.execute(
            text("UPDATE cancellation_requests SET expires_at = :t WHERE id = :id"),
            {"t": audit.utcnow() - timedelta(minutes=1), "id": request_id},
        )
    click(stack, blocks.APPROVE, request_id, APPROVER)
    ephemeral_to(stack, APPROVER, "already expired")
    assert stack.wait_status(request_id, "expired")
    stack.wait_until(lambda: "Expired" in card_of(stack, request_id)["json"], what="the expired card")
    assert card_of(stack, request_id)["buttons"] == []
    assert stack.services.registry["sandbox"].cancel_calls == []  # type: ignore[attr-defined]


def test_the_sweep_expires_pending_requests_and_updates_cards(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1005 customer request")
    with stack.services.database.engine.begin() as connection:
        connection.execute(
            text("UPDATE cancellation_requests SET expires_at = :t"), {"t": audit.utcnow() - timedelta(seconds=1)}
        )
    assert sweep_once(stack.services) == 1
    assert sweep_once(stack.services) == 0
    assert stack.request(request_id).status == "expired"
    assert "Expired" in card_of(stack, request_id)["json"]
    assert any("expired the request" in line for line in card_of(stack, request_id)["thread"])


def test_self_approval_is_refused(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 my own request", user=APPROVER)
    click(stack, blocks.APPROVE, request_id, APPROVER)
    ephemeral_to(stack, APPROVER, "someone else has to approve it")
    assert stack.request(request_id).status == "pending"
    with stack.services.database.write() as db:
        actions = [e.action for e in audit.events_for_request(db, request_id)]
    assert "approval.refused" in actions


def test_self_approval_when_allowed(make_stack: Any) -> None:
    stack = make_stack(allow_self_approval=True)
    request_id = ask_and_get_id(stack, "sandbox sb_1001 my own request", user=APPROVER)
    click(stack, blocks.APPROVE, request_id, APPROVER)
    assert stack.wait_status(request_id, "cancelled").decided_by == APPROVER


def test_a_user_without_a_role_is_refused_and_audited(stack: LocalStack) -> None:
    response = ask(stack, "sandbox sb_1001 let me in", user=STRANGER)
    assert "needs the requester role" in response.text
    assert request_count(stack) == 0 and stack.slack.channel_messages(CHANNEL) == []
    with stack.services.database.write() as db:
        denied = audit.events_by_actor(db, STRANGER)
    assert [e.action for e in denied] == ["access.denied"]


def test_a_role_revoked_elsewhere_stops_the_request_after_a_remembered_ack(stack: LocalStack) -> None:
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")  # the ack of this one remembers AGENT's yes
    with stack.services.database.write() as db:  # as the CLI or another replica would: not through here
        roles.revoke(db, user_id=AGENT, role=Role.REQUESTER, actor="cli:test")
    response = ask(stack, "sandbox sb_1002 customer asked")
    assert "Looking up `sb_1002`" in response.text  # the ack trusted the remembered yes
    ephemeral_to(stack, AGENT, "needs the requester role")
    stack.wait_until(lambda: len(stack.slack.dms(ADMIN)) == 1, what="the admins' alert")
    assert AGENT in stack.slack.dms(ADMIN)[0].text
    assert request_count(stack) == 1 and len(stack.slack.channel_messages(CHANNEL)) == 1
    with stack.services.database.write() as db:
        actions = [e.action for e in audit.events_by_actor(db, AGENT)]
    assert actions[-1] == "access.denied" and "request.refused" not in actions
    # Refused once by the database, the user is asked about again at the next ack.
    assert "needs the requester role" in ask(stack, "sandbox sb_1003 customer asked").text


def test_a_requester_clicking_approve_is_refused(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    other = ask_and_get_id(stack, "sandbox sb_1002 customer asked", user=ADMIN)
    click(stack, blocks.APPROVE, other, AGENT)
    ephemeral_to(stack, AGENT, "needs the approver role")
    assert stack.request(other).status == "pending" and stack.request(request_id).status == "pending"
    assert stack.services.registry["sandbox"].cancel_calls == []  # type: ignore[attr-defined]


def test_twenty_concurrent_approvals_make_one_provider_cancel(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    users = [APPROVER, APPROVER_2, ADMIN] * 7
    barrier = threading.Barrier(20)

    def go(user: str) -> None:
        body = stack.driver.click_body(blocks.APPROVE, request_id, user=user, channel=CHANNEL)
        barrier.wait()
        assert stack.driver.post(body).status_code == 200

    threads = [threading.Thread(target=go, args=(u,)) for u in users[:20]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = stack.wait_status(request_id, "cancelled")
    stack.wait_until(lambda: len(stack.slack.ephemerals()) >= 19 + 1, what="19 honest refusals")
    assert stack.services.registry["sandbox"].cancel_calls == ["sb_1002"]  # type: ignore[attr-defined]
    refusals = [m.text for m in stack.slack.ephemerals() if "Too late" in m.text or "You already decided" in m.text]
    assert len(refusals) == 19 and all(f"approved by <@{done.decided_by}>" in r for r in refusals)
    own = [r for r in refusals if "You already decided" in r]
    assert len(own) == users[:20].count(done.decided_by or "") - 1  # the winner's other clicks, told so
    with stack.services.database.write() as db:
        approvals = [e for e in audit.events_for_request(db, request_id) if e.action == "request.approved"]
    assert len(approvals) == 1 and chain_ok(stack)


def test_a_retried_slack_delivery_makes_no_second_request(stack: LocalStack) -> None:
    body = stack.driver.command_body("sandbox sb_1001 customer asked", user=AGENT, channel=CHANNEL)
    assert stack.driver.post(body).status_code == 200
    stack.wait_until(lambda: len(stack.slack.channel_messages(CHANNEL)) == 1, what="the card")
    assert stack.driver.post(body, retry_num=1).status_code == 200
    assert stack.driver.post(body, retry_num=2).status_code == 200
    time.sleep(0.3)
    assert request_count(stack) == 1 and len(stack.slack.channel_messages(CHANNEL)) == 1


def test_a_repeated_approve_click_body_makes_no_second_cancel(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    body = stack.driver.click_body(blocks.APPROVE, request_id, user=APPROVER, channel=CHANNEL)
    stack.driver.post(body)
    stack.wait_status(request_id, "cancelled")
    stack.driver.post(body, retry_num=1)
    ephemeral_to(stack, APPROVER, "You already decided")
    assert stack.services.registry["sandbox"].cancel_calls == ["sb_1003"]  # type: ignore[attr-defined]


def test_not_in_channel_tells_the_user_and_closes_the_request(stack: LocalStack) -> None:
    stack.slack.unreachable_channels.add("C0PRIVATE1")
    stack.driver.command("sandbox sb_1001 customer asked", user=AGENT, channel="C0PRIVATE1")
    ephemeral_to(stack, AGENT, "Invite me")
    stack.wait_until(lambda: request_count(stack) == 1, what="the request")
    with stack.services.database.engine.connect() as connection:
        status = connection.execute(text("SELECT status FROM cancellation_requests")).scalar_one()
    assert status == "withdrawn" and chain_ok(stack)


def test_retry_after_a_safe_failure(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_5001 customer asked")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    failed = stack.wait_status(request_id, "failed")
    assert failed.retry_safe and failed.outcome == "provider_error"
    stack.wait_until(lambda: card_of(stack, request_id)["buttons"] == [blocks.RETRY], what="the Retry button")
    click(stack, blocks.RETRY, request_id, AGENT)
    ephemeral_to(stack, AGENT, "needs the approver role")
    click(stack, blocks.RETRY, request_id, APPROVER_2)
    assert stack.wait_status(request_id, "cancelled").attempts == 2


def test_verify_settles_a_lost_answer(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_6001 customer asked")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    stack.wait_status(request_id, "unknown")
    stack.wait_until(lambda: card_of(stack, request_id)["buttons"] == [blocks.VERIFY], what="the Verify button")
    click(stack, blocks.VERIFY, request_id, APPROVER)
    assert stack.wait_status(request_id, "cancelled").outcome == "cancelled"
    assert stack.services.registry["sandbox"].cancel_calls == ["sb_6001"]  # type: ignore[attr-defined]


def test_status_shows_state_and_history(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    response = ask(stack, f"status {request_id.lower()}")
    assert request_id in response.text and "Waiting for an approver" in response.text
    assert "asked to cancel" in response.text
    assert "does not exist" in ask(stack, "status CR-22222222").text


@pytest.mark.parametrize(
    "sub,says",
    [("sb_2001", "already cancelled"), ("sb_3001", "cannot be cancelled"), ("sb_0000", "has no subscription")],
)
def test_lookups_that_end_the_request_before_it_starts(stack: LocalStack, sub: str, says: str) -> None:
    ask(stack, f"sandbox {sub} customer asked")
    ephemeral_to(stack, AGENT, says)
    assert request_count(stack) == 0 and stack.slack.calls_to("chat.postMessage") == []


# -- bad input --------------------------------------------------------------------------------------------------

BAD_TEXTS = {
    "help": ("help", "asks for a subscription to be cancelled"),
    "unknown provider": ("paypal 2150820 customer asked", "not an enabled provider; enabled: kajabi, sandbox"),
    "missing id": ("kajabi", "Missing the subscription id"),
    "missing reason": ("kajabi 2150820", "A reason is required"),
    "short reason": ("kajabi 2150820 no", "3 to 500 characters"),
    "path traversal": ("kajabi ../../v1/purchases customer asked", "is not a Kajabi purchase id"),
    "10 000 character id": ("kajabi " + "1" * 10_000 + " customer asked", "a request fits in 4000"),
    "long id": ("kajabi " + "1" * 65 + " customer asked", "is not a Kajabi purchase id"),
    "unicode id": ("kajabi 💳٣٤٥ customer asked", "is not a Kajabi purchase id"),
    "query in id": ("kajabi 123?x=1 customer asked", "is not a Kajabi purchase id"),
}


@pytest.mark.parametrize("name", list(BAD_TEXTS))
def test_bad_command_texts_get_a_specific_ephemeral_and_no_provider_call(make_stack: Any, name: str) -> None:
    text_typed, says = BAD_TEXTS[name]
    server = ScriptedServer().on("POST", "/v1/oauth/token", token())
    kajabi = KajabiProvider(client=server.client(), client_id="i", client_secret="s", base_url="https://k.test")
    stack = make_stack(registry=scripted_registry(kajabi=kajabi, sandbox=SandboxProvider()))
    response = ask(stack, text_typed)
    assert response.status_code == 200
    assert says in response.text
    time.sleep(0.1)
    assert server.requests == [] and request_count(stack) == 0
    assert stack.slack.calls_to("chat.postMessage") == []


# -- the HTTP endpoint --------------------------------------------------------------------------------------------


def test_a_bad_or_stale_signature_gets_401(stack: LocalStack) -> None:
    body = stack.driver.command_body("sandbox sb_1001 customer asked", user=AGENT)
    headers = stack.driver.signed_headers(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    forged = httpx.post(stack.driver.endpoint, content=body, headers=headers)
    stale = httpx.post(
        stack.driver.endpoint, content=body, headers=stack.driver.signed_headers(body, timestamp=int(time.time()) - 600)
    )
    assert forged.status_code == 401 and stale.status_code == 401
    assert request_count(stack) == 0


def test_healthz_answers_json_when_the_database_answers(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.server.url}/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True, "database": True}
    assert httpx.get(f"{stack.server.url}/nope").status_code == 404


def test_a_late_update_of_an_earlier_step_neither_hides_nor_repeats_anything(stack: LocalStack) -> None:
    """Slack updates run beside the provider call, so the "approved" update may land after the result."""
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked by email")
    approved = decisions.approve(stack.services.core, request_id, approver=APPROVER)
    assert approved.ok and approved.request is not None
    decisions.cancel(stack.services.core, approved.request)
    # The copy taken at approval, shown only now.
    stack.services.delivery.sync(stack.services.client, request_id, current=approved.request)
    stack.wait_until(lambda: "Cancelled" in card_of(stack, request_id)["json"], what="the final card")
    stack.services.delivery.sync(stack.services.client, request_id)
    stack.wait_idle()
    assert "Cancelled" in card_of(stack, request_id)["json"]
    thread_lines = "\n".join(card_of(stack, request_id)["thread"]).splitlines()
    events = [line for line in thread_lines if line.startswith("`#")]
    assert len(events) == len(set(events)) == 3, events  # asked, approved, cancelled: each once, in order
    assert events == sorted(events, key=lambda line: int(line[2:].split("`")[0])), events
    told = [m.text for m in stack.slack.dms(AGENT) if request_id in m.text]
    assert len(told) == 1 and "cancelled" in told[0].lower(), told


def test_text_slack_sent_escaped_is_escaped_exactly_once_wherever_it_is_shown(stack: LocalStack) -> None:
    """Slack sends `AT&T <b>` typed in a command as `AT&amp;T &lt;b&gt;`: stored as typed, shown escaped once."""
    request_id = ask_and_get_id(stack, "sandbox sb_1001 AT&amp;T wants &lt;b&gt;out&lt;/b&gt;")
    assert stack.request(request_id).reason == "AT&T wants <b>out</b>"
    stack.wait_idle()
    shown = card_of(stack, request_id)
    everything = shown["json"] + "\n".join(shown["thread"])
    assert "AT&amp;T wants &lt;b&gt;out&lt;/b&gt;" in shown["json"]
    assert "AT&amp;T wants &lt;b&gt;out&lt;/b&gt;" in "\n".join(shown["thread"])
    assert "&amp;amp;" not in everything and "&amp;lt;" not in everything and "<b>" not in everything
