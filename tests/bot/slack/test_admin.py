"""Admins and auditors in Slack: roles with a two-person rule, audit look-ups and export, App Home,
notifications and velocity limits, all through signed requests to the real endpoint."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from bot.demo.stack import LocalStack
from bot.runtime.sweeper import check_audit_if_due, sweep_once
from bot.slack import blocks
from storage import audit, chain, roles
from storage.models import Role
from tests.bot.conftest import ADMIN, AGENT, APPROVER, APPROVER_2, CHANNEL, STRANGER
from tests.bot.slack.test_scenarios import ask, ask_and_get_id, click, ephemeral_to, reject, request_count

ADMIN_2, NEWBIE = "U0ADMIN02", "U0NEWBIE1"


def second_admin(stack: LocalStack) -> None:
    with stack.services.database.write() as db:
        roles.grant(db, user_id=ADMIN_2, role=Role.ADMIN, actor="cli:test")


def roles_of(stack: LocalStack, user: str) -> set[Role]:
    with stack.services.database.read() as db:
        return roles.roles_of(db, user)


def actions_of(stack: LocalStack, actor: str) -> list[str]:
    with stack.services.database.read() as db:
        return [e.action for e in audit.events_by_actor(db, actor)]


def grant_card(stack: LocalStack) -> tuple[str, Any]:
    stack.wait_until(
        lambda: any(b.get("block_id") == "grant" for m in stack.slack.channel_messages(CHANNEL) for b in m.blocks),
        what="the role change card",
    )
    card = next(
        m
        for m in reversed(stack.slack.channel_messages(CHANNEL))
        if any(b.get("block_id") == "grant" for b in m.blocks)
    )
    grant_id = next(b["elements"][0]["value"] for b in card.blocks if b.get("block_id") == "grant")
    return str(grant_id), card


# -- roles ---------------------------------------------------------------------------------------------------------


def hold_the_clock(stack: LocalStack) -> None:
    """Stop the bot's clock at the start of this minute: refusals are counted a minute (and admins told once an
    hour) at a time, and a test's asks must not fall into two windows however slowly they run."""
    now = audit.utcnow().replace(second=0, microsecond=0)
    stack.services.core.clock = lambda: now


def test_admins_list_roles_and_others_are_refused_with_one_admin_dm_an_hour(stack: LocalStack) -> None:
    hold_the_clock(stack)
    listed = ask(stack, "roles", user=ADMIN)
    assert f"<@{APPROVER}> approver" in listed.text and f"<@{ADMIN}> admin" in listed.text
    first = ask(stack, "roles", user=STRANGER)
    assert "needs the admin role" in first.text
    ask(stack, "roles", user=STRANGER)
    ask(stack, "roles", user=STRANGER)
    stack.wait_until(lambda: len(stack.slack.dms(ADMIN)) >= 1, what="the admin DM")
    assert len(stack.slack.dms(ADMIN)) == 1 and STRANGER in stack.slack.dms(ADMIN)[0].text
    # Three refusals in a minute: one event now, and the repeats summed up once the minute is over.
    assert actions_of(stack, STRANGER).count("access.denied") == 1


def test_granting_requester_is_immediate_and_announced(stack: LocalStack) -> None:
    response = ask(stack, f"grant <@{NEWBIE}|newbie> requester", user=ADMIN)
    assert "granted the requester role" in response.text
    assert roles_of(stack, NEWBIE) == {Role.REQUESTER}
    stack.wait_until(
        lambda: any("granted the requester role" in m.text for m in stack.slack.channel_messages(CHANNEL)),
        what="the channel line",
    )
    assert "role.granted" in actions_of(stack, ADMIN)


def test_an_approver_grant_needs_a_second_admin(stack: LocalStack) -> None:
    second_admin(stack)
    response = ask(stack, f"grant <@{NEWBIE}|newbie> approver", user=ADMIN)
    assert "another admin must confirm" in response.text
    grant_id, card = grant_card(stack)
    assert roles_of(stack, NEWBIE) == set()

    click(stack, blocks.GRANT_CONFIRM, grant_id, ADMIN)
    ephemeral_to(stack, ADMIN, "another admin has to confirm it")
    assert roles_of(stack, NEWBIE) == set()

    click(stack, blocks.GRANT_CONFIRM, grant_id, APPROVER)  # not an admin
    ephemeral_to(stack, APPROVER, "Only admins")

    click(stack, blocks.GRANT_CONFIRM, grant_id, ADMIN_2)
    stack.wait_until(lambda: Role.APPROVER in roles_of(stack, NEWBIE), what="the grant")
    stack.wait_until(
        lambda: "Confirmed" in json.dumps(stack.slack.card(CHANNEL, card.ts).blocks),  # type: ignore[union-attr]
        what="the confirmed card",
    )
    click(stack, blocks.GRANT_DECLINE, grant_id, ADMIN)
    ephemeral_to(stack, ADMIN, "Too late: this role change is already confirmed")
    assert "role.grant_confirmed" in actions_of(stack, ADMIN_2) and "role.granted" in actions_of(stack, ADMIN_2)


def test_a_declined_grant_changes_nothing(stack: LocalStack) -> None:
    second_admin(stack)
    ask(stack, f"grant <@{NEWBIE}> admin", user=ADMIN)
    grant_id, _ = grant_card(stack)
    click(stack, blocks.GRANT_DECLINE, grant_id, ADMIN_2)
    stack.wait_until(lambda: "role.grant_declined" in actions_of(stack, ADMIN_2), what="the decline")
    assert roles_of(stack, NEWBIE) == set()


def test_revoking_is_immediate_but_the_last_admin_stays(stack: LocalStack) -> None:
    assert "revoked the approver role" in ask(stack, f"revoke <@{APPROVER}> approver", user=ADMIN).text
    assert roles_of(stack, APPROVER) == set()
    refused = ask(stack, f"revoke <@{ADMIN}> admin", user=ADMIN)
    assert "cannot remove the last admin" in refused.text
    assert Role.ADMIN in roles_of(stack, ADMIN)


def test_taking_the_admin_role_from_another_admin_needs_a_second_admin(stack: LocalStack) -> None:
    second_admin(stack)
    with stack.services.database.write() as db:
        roles.grant(db, user_id=NEWBIE, role=Role.ADMIN, actor="cli:test")  # a third admin, the one to remove
    proposed = ask(stack, f"revoke <@{NEWBIE}> admin", user=ADMIN).text
    assert "proposes taking the admin role" in proposed and "another admin must confirm" in proposed
    assert Role.ADMIN in roles_of(stack, NEWBIE)  # nothing changed yet: one admin cannot remove another alone
    grant_id, card = grant_card(stack)
    assert "take the *admin* role from" in json.dumps(card.blocks)
    click(stack, blocks.GRANT_CONFIRM, grant_id, ADMIN)
    ephemeral_to(stack, ADMIN, "another admin has to confirm it")
    assert Role.ADMIN in roles_of(stack, NEWBIE)
    click(stack, blocks.GRANT_CONFIRM, grant_id, ADMIN_2)
    stack.wait_until(lambda: Role.ADMIN not in roles_of(stack, NEWBIE), what="the confirmed removal")
    assert "role.revoked" in actions_of(stack, ADMIN_2)


def test_a_requester_revoked_here_is_refused_at_the_next_ack(stack: LocalStack) -> None:
    hold_the_clock(stack)
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")  # the ack of this one remembers AGENT's yes
    assert "revoked the requester role" in ask(stack, f"revoke <@{AGENT}> requester", user=ADMIN).text
    response = ask(stack, "sandbox sb_1002 customer asked")
    assert "needs the requester role" in response.text
    assert actions_of(stack, AGENT).count("access.denied") == 1


def test_role_commands_explain_bad_input(stack: LocalStack) -> None:
    assert "Name the person with a mention" in ask(stack, "grant bob approver", user=ADMIN).text
    assert "is not a role" in ask(stack, f"grant <@{NEWBIE}> owner", user=ADMIN).text
    assert "Usage" in ask(stack, "grant", user=ADMIN).text


# -- audit ---------------------------------------------------------------------------------------------------------


def test_audit_summaries_by_subscription_user_and_request(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    click(stack, blocks.APPROVE, request_id, APPROVER)
    stack.wait_status(request_id, "cancelled")
    by_sub = ask(stack, "audit sb_1001", user=APPROVER).text
    assert "subscription `sb_1001`" in by_sub and "asked to cancel" in by_sub and "*cancelled*" in by_sub
    by_user = ask(stack, f"audit <@{APPROVER}|approver> --since 7d", user=ADMIN).text
    assert "approved" in by_user
    by_request = ask(stack, f"audit {request_id}", user=APPROVER).text
    assert f"request {request_id}" in by_request and "3 events" in by_request
    assert "No audit events" in ask(stack, "audit sb_1001 --since 2999-01-01", user=APPROVER).text
    assert "needs the approver role" in ask(stack, "audit sb_1001", user=AGENT).text
    assert "is not a date" in ask(stack, "audit sb_1001 --since soon", user=APPROVER).text


def test_export_sends_a_csv_dm_that_matches_the_audit_table(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    reject(stack, request_id, APPROVER)
    stack.wait_status(request_id, "rejected")
    assert "Preparing the audit export" in ask(stack, "export --since 30d", user=ADMIN).text
    stack.wait_until(lambda: len(stack.slack.files) == 1, what="the uploaded file")
    stack.wait_until(lambda: "audit.exported" in actions_of(stack, ADMIN), what="the export's own audit event")
    upload = stack.slack.files[0]
    assert upload["channel"] == f"D{ADMIN}" and upload["filename"].endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(upload["content"].decode())))
    with stack.services.database.read() as db:
        every = list(csv.DictReader(io.StringIO(audit.export_csv_text(db))))
    assert exported == every[: len(exported)]  # exactly the table as it was, field for field
    assert every[len(exported)]["action"] == "audit.exported"  # then the export itself was recorded
    assert "needs the admin role" in ask(stack, "export", user=APPROVER).text


# -- App Home ----------------------------------------------------------------------------------------------------


def open_home(stack: LocalStack, user: str) -> dict[str, Any]:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0123ABCD",
            "api_app_id": "A0ABCDEF1",
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"},
            "event_id": "Ev0001",
            "event_time": 1,
        }
    )
    headers = stack.driver.signed_headers(body)
    headers["Content-Type"] = "application/json"
    import httpx

    assert httpx.post(stack.driver.endpoint, content=body, headers=headers).status_code == 200
    stack.wait_until(lambda: user in stack.slack.views, what="the App Home")
    view = stack.slack.views.pop(user)
    return view


def test_app_home_for_approvers_requesters_and_admins(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    approver_home = json.dumps(open_home(stack, APPROVER))
    assert request_id in approver_home and blocks.APPROVE in approver_home
    requester_home = json.dumps(open_home(stack, AGENT))
    assert request_id in requester_home and blocks.APPROVE not in requester_home
    check_audit_if_due(stack.services)
    admin_home = json.dumps(open_home(stack, ADMIN))
    assert "Audit chain intact" in admin_home and f"<@{APPROVER}> approver" in admin_home


def test_approving_from_the_app_home(stack: LocalStack) -> None:
    request_id = ask_and_get_id(stack, "sandbox sb_1004 customer asked")
    stack.driver.click(blocks.APPROVE, request_id, user=APPROVER, from_home=True)
    assert stack.wait_status(request_id, "cancelled").decided_by == APPROVER
    stack.wait_until(lambda: APPROVER in stack.slack.views, what="the refreshed App Home")
    stack.driver.click(blocks.APPROVE, request_id, user=APPROVER_2, from_home=True)
    stack.wait_until(
        lambda: any("Too late" in m.text for m in stack.slack.dms(APPROVER_2)),
        what="the refusal by DM (a Home click has no response_url)",
    )


# -- notifications and limits ---------------------------------------------------------------------------------------


def test_the_requester_hears_of_each_step_once(stack: LocalStack) -> None:
    approved = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    rejected = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    expiring = ask_and_get_id(stack, "sandbox sb_1003 customer asked")
    click(stack, blocks.APPROVE, approved, APPROVER)
    reject(stack, rejected, APPROVER)
    with stack.services.database.engine.begin() as connection:
        connection.execute(
            text("UPDATE cancellation_requests SET expires_at = :t WHERE id = :id"),
            {"t": audit.utcnow() - timedelta(seconds=1), "id": expiring},
        )
    stack.wait_status(approved, "cancelled")
    stack.wait_status(rejected, "rejected")
    sweep_once(stack.services)
    sweep_once(stack.services)

    def said(request_id: str) -> list[str]:
        return [m.text for m in stack.slack.dms(AGENT) if request_id in m.text]

    stack.wait_until(lambda: any("Cancelled" in t for t in said(approved)), what="the finished DM")
    # "Approved, cancelling" comes first when the provider takes a moment; when it answers at once (the sandbox),
    # the one DM about the result also says who approved. Never the same news twice.
    assert 1 <= len(said(approved)) <= 2 and len(set(said(approved))) == len(said(approved))
    assert "Cancelled" in said(approved)[-1] and f"Approved by <@{APPROVER}>" in said(approved)[-1]
    assert len(said(rejected)) == 1 and "Rejected" in said(rejected)[0]
    assert len(said(expiring)) == 1 and "Expired" in said(expiring)[0]


def test_an_approver_over_the_limit_is_refused_and_admins_hear(make_stack: Any) -> None:
    stack = make_stack(max_approvals_per_user_per_hour=1)
    first = ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    second = ask_and_get_id(stack, "sandbox sb_1002 customer asked")
    click(stack, blocks.APPROVE, first, APPROVER)
    stack.wait_status(first, "cancelled")
    click(stack, blocks.APPROVE, second, APPROVER)
    ephemeral_to(stack, APPROVER, "Limit reached: 1 approvals in an hour")
    assert stack.request(second).status == "pending"
    stack.wait_until(lambda: any("approvals limit" in m.text for m in stack.slack.dms(ADMIN)), what="the admin DM")
    click(stack, blocks.APPROVE, second, APPROVER_2)
    stack.wait_status(second, "cancelled")


def test_a_requester_over_the_limit_is_refused_before_any_lookup(make_stack: Any) -> None:
    stack = make_stack(max_requests_per_user_per_day=1)
    ask_and_get_id(stack, "sandbox sb_1001 customer asked")
    ask(stack, "sandbox sb_1002 customer asked")
    ephemeral_to(stack, AGENT, "Limit reached: 1 requests in 24 hours")
    stack.wait_until(lambda: any("requests limit" in m.text for m in stack.slack.dms(ADMIN)), what="the admin DM")


# -- counts and long lists ------------------------------------------------------------------------------------------


def test_counts_are_exact_and_a_cut_list_says_how_much_more_there_is(stack: LocalStack) -> None:
    with stack.services.database.write() as db:
        for n in range(230):  # more events than one look-up loads
            audit.append(db, actor=APPROVER, action="note", detail={"n": n})
        for n in range(203):  # more roles than one message holds
            roles.grant(db, user_id=f"U0MANY{n:04d}", role=Role.REQUESTER, actor="cli:test")
    by_user = ask(stack, f"audit <@{APPROVER}>", user=ADMIN).text
    assert "230 events" in by_user and "the last 25 shown" in by_user
    listed = ask(stack, "roles", user=ADMIN).text
    total = 203 + 4  # and the four roles every test starts with
    shown = listed.count("\n• ")
    assert f"*Roles* ({total})" in listed and shown < total and f"and {total - shown} more" in listed
    assert len(listed) <= 3900


def test_the_app_home_counts_every_request_waiting(stack: LocalStack) -> None:
    for n in range(25):
        ask(stack, f"sandbox sb_many_{n} customer asked")
    stack.wait_until(lambda: request_count(stack) == 25, what="the requests")
    home = json.dumps(open_home(stack, APPROVER))
    assert "Waiting for a decision* (25)" in home and "and 15 more waiting" in home


def test_refusals_are_audited_at_a_bounded_rate_with_a_count(stack: LocalStack) -> None:
    hold_the_clock(stack)
    for _ in range(40):
        ask(stack, "roles", user=STRANGER)
    assert actions_of(stack, STRANGER).count("access.denied") == 1
    with stack.services.database.write() as db:  # the minute is over
        db.execute(text("UPDATE refusal_tallies SET window = '200001010000'"))
    sweep_once(stack.services)
    with stack.services.database.read() as db:
        repeated = [e for e in audit.events_by_actor(db, STRANGER) if e.action == "refusals.repeated"]
    assert (
        len(repeated) == 1 and '"repeats":39' in repeated[0].detail and '"kind":"access.denied"' in repeated[0].detail
    )
    sweep_once(stack.services)  # summed up once
    with stack.services.database.read() as db:
        assert [e.action for e in audit.events_by_actor(db, STRANGER)].count("refusals.repeated") == 1
        assert chain.verify(db).ok
