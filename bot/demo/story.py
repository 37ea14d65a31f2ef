"""`cancel-sub demo`: the whole story offline, through the real HTTP endpoint, sandbox provider and a fake Slack."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.core import reads
from bot.demo.fake_slack import Message
from bot.demo.stack import LocalStack
from bot.demo.transcript import render_message
from bot.slack import blocks, forms
from storage import chain, roles
from storage.models import RequestStatus, Role

CHANNEL = "C0BILLING1"
SAM, ALEX, JORDAN, MORGAN, RILEY = "U0SAM0001", "U0ALEX001", "U0JORDAN1", "U0MORGAN1", "U0RILEY01"
NAMES = {
    SAM: "Sam (support)",
    ALEX: "Alex (approver)",
    JORDAN: "Jordan (approver)",
    MORGAN: "Morgan (admin)",
    RILEY: "Riley (no role)",
    CHANNEL: "billing-ops",
    "UBOT": "cancel-sub",
}
FINAL = {s.value for s in RequestStatus if s not in (RequestStatus.PENDING, RequestStatus.EXECUTING)}


class Demo:
    def __init__(self, workdir: Path, out: Callable[[str], None]) -> None:
        self.out = out
        self.stack = LocalStack(f"sqlite:///{workdir / 'demo.db'}")
        self.slack, self.services, self.driver = self.stack.slack, self.stack.services, self.stack.driver
        self._seen_ephemerals = 0

    def close(self) -> None:
        self.stack.close()

    # -- narration ------------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out(f"\n▶ {text}")

    def show(self, message: Message, indent: str = "    ") -> None:
        for line in render_message(message.text, message.blocks, NAMES):
            self.out(indent + line)

    def private(self, user: str, text: str) -> None:
        lines = render_message(text, [], NAMES)
        self.out(f"    (only {NAMES.get(user, user)} sees) {lines[0]}")
        for line in lines[1:]:
            self.out(f"      {line}")

    def new_ephemerals(self, wait_for: int = 1, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.slack.ephemerals()) < self._seen_ephemerals + wait_for and time.monotonic() < deadline:
            time.sleep(0.02)
        for message in self.slack.ephemerals()[self._seen_ephemerals :]:
            self.out(
                f"    (only {NAMES.get(message.user or '', message.user)} sees) "
                + " ".join(render_message(message.text, [], NAMES))
            )
        self._seen_ephemerals = len(self.slack.ephemerals())

    def command(self, user: str, text: str, *, expect: int = 1) -> None:
        self.out(f"  {NAMES[user]}: /cancel-sub {text}")
        response = self.driver.command(text, user=user, channel=CHANNEL)
        said = _ack_text(response)
        if said:
            self.private(user, said)
        if expect:
            self.new_ephemerals(expect)

    def click(self, user: str, action: str, request_id: str) -> None:
        label = action.removeprefix("cancel_sub_").capitalize()
        self.out(f"  {NAMES[user]} clicks [ {label} ] and confirms")
        self.driver.click(action, request_id, user=user, channel=CHANNEL)

    def reject(self, user: str, request_id: str, reason: str) -> None:
        """Reject opens a form that asks why; the reason goes to the card, the thread, the requester and the audit."""
        before = len(self.slack.modals)
        self.out(f"  {NAMES[user]} clicks [ Reject ]; a form asks why")
        self.driver.click(blocks.REJECT, request_id, user=user, channel=CHANNEL)
        self.stack.wait_until(lambda: len(self.slack.modals) > before, what="the reject form")
        self.out(f'  {NAMES[user]} types "{reason}" and clicks [ Reject ]')
        self.driver.submit(
            self.slack.modals[-1], user=user, values={blocks.REASON_BLOCK: {blocks.REASON_INPUT: reason}}
        )

    def request_from_message(self, user: str, message: str, subscription_id: str) -> None:
        """The message shortcut: the form opens with the message as the draft reason and its link as the ticket."""
        before = len(self.slack.modals)
        self.out(f"  {NAMES[user]} picks *Request cancellation* on the message: {message!r}")
        payload = self.driver.message_shortcut_payload(forms.FROM_MESSAGE, user=user, message_text=message)
        self.driver.send_payload(payload)
        self.stack.wait_until(lambda: len(self.slack.modals) > before, what="the request form")
        form = self.slack.modals[-1]
        values = {b["block_id"]: b["element"] for b in form["blocks"] if b.get("type") == "input"}
        reason, ticket = values[forms.REASON]["initial_value"], values[forms.TICKET]["initial_value"]
        self.out(f"  the form opens: reason {reason!r}, ticket {ticket}")
        self.out(f"  {NAMES[user]} picks Sandbox, types the id {subscription_id} and clicks [ Ask ]")
        typed: dict[str, dict[str, Any]] = {
            forms.PROVIDER: {forms.PROVIDER: {"selected_option": {"value": "sandbox"}}},
            forms.SUBSCRIPTION: {forms.SUBSCRIPTION: subscription_id},
            forms.REASON: {forms.REASON: reason},
            forms.TICKET: {forms.TICKET: {"value": ticket}},
            forms.CHANNEL: {forms.CHANNEL: {"selected_conversation": CHANNEL}},
        }
        cards = len(self.slack.channel_messages(CHANNEL))
        self.driver.submit(form, user=user, values=typed)
        self.stack.wait_until(lambda: len(self.slack.channel_messages(CHANNEL)) > cards, what="the card")

    def request_by_email(self, user: str, email: str, pick: str, reason: str) -> None:
        """The command with an email: the customer's subscriptions to pick from, then the request as with an id."""
        seen = len(self.slack.ephemerals(user))
        self.command(user, f"sandbox {email} {reason}", expect=0)
        self.stack.wait_until(lambda: len(self.slack.ephemerals(user)) > seen, what="the choices")
        choices = self.slack.ephemerals(user)[-1]
        self._seen_ephemerals = len(self.slack.ephemerals())
        self.out(f"  ┌ only {NAMES[user]} sees")
        self.show(choices, "  │ ")
        self.out("  └")
        button = next(
            b["accessory"] for b in choices.blocks if pick in json.dumps(b.get("accessory", {}).get("value", ""))
        )
        self.out(f"  {NAMES[user]} clicks [ Request this one ] beside {pick}")
        cards = len(self.slack.channel_messages(CHANNEL))
        self.driver.click(button["action_id"], button["value"], user=user, channel=CHANNEL)
        self.stack.wait_until(lambda: len(self.slack.channel_messages(CHANNEL)) > cards, what="the card")
        self.new_ephemerals(2)  # the list gives way to "Asking for …", then the card is confirmed

    def latest_request_id(self) -> str:
        return self.stack.latest_request_id(CHANNEL)

    def wait_status(self, request_id: str, statuses: set[str]) -> str:
        request = self.stack.wait_status(request_id, *statuses)
        time.sleep(0.1)  # let the listener finish its card update and thread line
        return request.status

    def show_card(self, request_id: str) -> None:
        request = reads.request(self.services.core, request_id)
        assert request is not None and request.card_ts
        card = self.slack.card(CHANNEL, request.card_ts)
        assert card is not None
        self.out("  ┌ card in #billing-ops")
        self.show(card, "  │ ")
        thread = self.slack.thread(CHANNEL, request.card_ts)
        if thread:
            self.out("  │ thread:")
            for reply in thread:
                self.show(reply, "  │   ")
        self.out("  └")


def _ack_text(response: httpx.Response) -> str:
    """Bolt answers an ack with text as a plain body (or JSON with blocks); Slack shows it only to the sender."""
    if not response.content:
        return ""
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text", ""))
    return response.text


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cancel-sub-demo-") as tmp:
        demo = Demo(Path(tmp), print)
        try:
            story(demo)
        finally:
            demo.close()
    return 0


def story(demo: Demo) -> None:
    out = demo.out
    out("cancel-sub demo: sandbox provider, a local fake Slack, the real HTTP endpoint. No network, no credentials.")

    demo.say("An admin sets up roles from the command line")
    with demo.services.database.write() as db:
        for user, role in ((MORGAN, Role.ADMIN), (SAM, Role.REQUESTER), (ALEX, Role.APPROVER), (JORDAN, Role.APPROVER)):
            roles.grant(db, user_id=user, role=role, actor="cli:demo")
            out(f"  $ cancel-sub roles grant {user} {role}    # {NAMES[user]}")

    demo.say("Jordan, an approver, asks to cancel an active subscription")
    demo.command(JORDAN, "sandbox sb_1001 customer asked by email to stop renewing")
    first = demo.latest_request_id()
    demo.show_card(first)

    demo.say("Jordan tries to approve their own request; Sam (support, not an approver) tries too")
    demo.click(JORDAN, blocks.APPROVE, first)
    demo.new_ephemerals()
    demo.click(SAM, blocks.APPROVE, first)
    demo.new_ephemerals()

    demo.say("Alex and Morgan both click Approve at the same moment (and Alex double-clicks)")
    import threading

    clicks = [
        threading.Thread(target=demo.driver.click, args=(blocks.APPROVE, first), kwargs={"user": u, "channel": CHANNEL})
        for u in (ALEX, MORGAN, ALEX)
    ]
    out("  Alex, Morgan and Alex again click [ Approve ] and confirm")
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    demo.wait_status(first, FINAL)
    demo.new_ephemerals(2)
    demo.show_card(first)
    out(f"  sandbox cancel calls for sb_1001: {demo.services.registry['sandbox'].cancel_calls.count('sb_1001')}")  # type: ignore[attr-defined]

    demo.say("Sam asks for another cancellation; Alex rejects it, saying why")
    demo.command(SAM, "sandbox sb_1002 customer says the account is a duplicate")
    second = demo.latest_request_id()
    demo.reject(ALEX, second, "Not a duplicate: the customer has two brands (ticket #4812)")
    demo.wait_status(second, {RequestStatus.REJECTED.value})
    demo.show_card(second)

    demo.say("A customer's email is forwarded into Slack; Sam asks from it with the message shortcut")
    demo.request_from_message(SAM, "From jane@example.com: please cancel, I am moving abroad. Thanks!", "sb_1004")
    from_message = demo.latest_request_id()
    demo.stack.wait_until(lambda: demo.stack.request(from_message).card_ts is not None, what="the card recorded")
    demo.show_card(from_message)

    demo.say("Sam knows only the customer's email: the bot lists her subscriptions, Sam picks one")
    demo.request_by_email(SAM, "ada@example.com", "sb_1006", "customer asked to stop the team plan")
    by_email = demo.latest_request_id()
    demo.stack.wait_until(lambda: demo.stack.request(by_email).card_ts is not None, what="the card recorded")
    demo.show_card(by_email)

    demo.say("The provider's answer gets lost: the card offers Verify, which settles it by reading the subscription")
    demo.command(SAM, "sandbox sb_6001 chargeback risk, cancel now")
    third = demo.latest_request_id()
    demo.click(JORDAN, blocks.APPROVE, third)
    demo.wait_status(third, {RequestStatus.UNKNOWN.value})
    demo.say("Meanwhile Alex asks for the same subscription: one open request per subscription, so Alex is told")
    demo.command(ALEX, "sandbox sb_6001 customer wrote in too")
    demo.click(JORDAN, blocks.VERIFY, third)
    demo.wait_status(third, {RequestStatus.CANCELLED.value})
    demo.show_card(third)

    demo.say("Requests that cannot go anywhere are answered at once, with nothing posted")
    demo.command(SAM, "sandbox sb_2001 customer asked again")
    demo.command(SAM, "sandbox ../etc/passwd because", expect=0)
    demo.command(SAM, "paypal 123 wrong provider", expect=0)
    demo.command(RILEY, "sandbox sb_1003 I am not allowed to do this", expect=0)

    demo.say("Anyone can check a request's history")
    demo.command(SAM, f"status {first}", expect=0)

    demo.say("An auditor checks that nobody edited the log")
    with demo.services.database.write() as db:
        report = chain.verify(db)
    out(f"  $ cancel-sub audit verify\n  {report.describe()}")
    if not report.ok:
        sys.exit(1)
    out("\nDone. Next: `python3 tasks.py test` runs the tests; README.md explains the Slack setup.")
