"""The database decides: one open request per subscription, and a role revoked mid-flight no longer counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.core import access, admin, asking, decisions, transitions, upkeep
from bot.core.asking import Ask
from bot.core.context import Core
from bot.core.results import Refusal
from providers.base import CancelEffect, CancelResult, LookupResult, Outcome, SubscriptionSnapshot, SubscriptionStatus
from providers.registry import Registry
from storage import audit, requests, roles
from storage.database import Database
from storage.models import RequestStatus as S
from storage.models import Role

ASKER, APPROVER, ADMIN, ADMIN_2 = "U0ASKER01", "U0APPROV1", "U0ADMIN01", "U0ADMIN02"


class Counting:
    """Every subscription runs; cancels are counted; `during_lookup` runs inside each lookup."""

    name, label, id_hint = "counting", "Counting", "anything"
    effect = CancelEffect(immediate=True, refunds=False, reversible=False)

    def __init__(self) -> None:
        self.cancels: list[str] = []
        self.during_lookup: Any = None

    def validate_id(self, raw: str) -> str:
        return raw

    def lookup(self, subscription_id: str) -> LookupResult:
        if self.during_lookup is not None:
            self.during_lookup()
        return LookupResult(SubscriptionSnapshot(subscription_id, SubscriptionStatus.ACTIVE))

    def cancel(self, subscription_id: str) -> CancelResult:
        self.cancels.append(subscription_id)
        return CancelResult(Outcome.CANCELLED, "ok", 200, False, 1)


@pytest.fixture
def provider() -> Counting:
    return Counting()


@pytest.fixture
def core(database: Database, provider: Counting) -> Core:
    with database.write() as db:
        for user, role in (
            (ASKER, Role.REQUESTER),
            (APPROVER, Role.APPROVER),
            (ADMIN, Role.ADMIN),
            (ADMIN_2, Role.ADMIN),
        ):
            roles.grant(db, user_id=user, role=role, actor="cli:test")
    return Core(database=database, registry=Registry({"counting": provider}))


def ask(core: Core, subscription: str = "sub-1", who: str = ASKER) -> Any:
    return asking.request(core, Ask(who, "counting", subscription, "customer asked", "C0CHANNEL"))


def revoke(core: Core, user: str, role: Role) -> None:
    with core.database.write() as db:
        roles.revoke(db, user_id=user, role=role, actor="cli:test")


def actions_of(core: Core, request_id: str) -> list[str]:
    with core.database.read() as db:
        return [e.action for e in audit.events_for_request(db, request_id)]


def test_a_second_request_for_an_open_subscription_is_refused_and_told_which_covers_it(
    core: Core, provider: Counting
) -> None:
    first = ask(core)
    assert first.ok
    provider.during_lookup = lambda: pytest.fail("a covered subscription is refused before any lookup")
    second = ask(core, who=APPROVER)
    assert second.refusal is Refusal.ALREADY_REQUESTED and second.request is not None
    assert second.request.id == first.request.id
    provider.during_lookup = None
    assert decisions.reject(core, first.request.id, approver=APPROVER).ok
    assert ask(core, who=APPROVER).ok  # a closed request no longer covers it


def test_the_database_keeps_one_open_request_per_subscription_whatever_the_caller_checked(database: Database) -> None:
    fields: dict[str, Any] = {
        "provider": "counting",
        "subscription_id": "sub-9",
        "reason": "asked",
        "requester": ASKER,
        "channel": "C0CHANNEL",
        "snapshot": "{}",
        "expires_at": audit.utcnow(),
    }
    with database.write() as db:
        requests.create(db, **fields)
    with pytest.raises(IntegrityError), database.write() as db:
        requests.create(db, **fields)
    with database.write() as db:
        requests.create(db, **{**fields, "provider": "other"})  # another provider's id is another subscription


def test_a_requester_revoked_during_the_lookup_gets_no_request(core: Core, provider: Counting) -> None:
    provider.during_lookup = lambda: revoke(core, ASKER, Role.REQUESTER)
    refused = ask(core)
    assert refused.refusal is Refusal.NO_ROLE
    with core.database.read() as db:
        assert requests.open_for(db, provider="counting", subscription_id="sub-1") is None


def test_an_approver_revoked_just_before_the_update_does_not_approve(
    core: Core, provider: Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is checked before the approving update but the update itself: a role revoked a moment before it
    runs (after the click's ack trusted it) decides nothing, and the refusal says why."""
    request_id = ask(core).request.id
    deciding = transitions.apply

    def revoke_then_decide(*args: Any, **kwargs: Any) -> Any:
        revoke(core, APPROVER, Role.APPROVER)
        return deciding(*args, **kwargs)

    monkeypatch.setattr(transitions, "apply", revoke_then_decide)
    refused = decisions.approve(core, request_id, approver=APPROVER)
    assert refused.refusal is Refusal.NO_ROLE and refused.needed is Role.APPROVER
    assert actions_of(core, request_id) == ["request.created", "access.denied"]
    assert provider.cancels == []


def test_the_approving_update_itself_refuses_the_requester(core: Core, provider: Counting) -> None:
    """Self-approval is one of the update's conditions, not only a check before it: a requester who is also an
    approver cannot move their own request, whatever a caller checked."""
    with core.database.write() as db:
        roles.grant(db, user_id=ASKER, role=Role.APPROVER, actor="cli:test")
    request_id = ask(core).request.id
    change = requests.Transition(
        expected=S.PENDING, target=S.EXECUTING, actor=ASKER, action="request.approved", not_the_requester=True
    )
    with core.database.write() as db:
        assert not requests.transition(db, request_id, change).won
    refused = decisions.approve(core, request_id, approver=ASKER)
    assert refused.refusal is Refusal.SELF_APPROVAL
    assert actions_of(core, request_id) == ["request.created", "approval.refused"]
    assert decisions.approve(core, request_id, approver=APPROVER).ok and provider.cancels == []


def test_an_admin_revoked_before_confirming_a_grant_does_not_confirm_it(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposed = admin.grant(core, actor=ADMIN, user_id="U0NEWBIE1", role_name="approver", channel="C0CHANNEL")
    assert proposed.grant is not None
    real_has_role = access.has_role
    calls = {"n": 0}

    def passed_then_revoked(core_: Core, user: str, needed: Role) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:  # the check before the update passes, then the role goes
            allowed = real_has_role(core_, user, needed)
            revoke(core, ADMIN_2, Role.ADMIN)
            return allowed
        return real_has_role(core_, user, needed)

    monkeypatch.setattr(access, "has_role", passed_then_revoked)
    change = admin.decide_grant(core, proposed.grant.id, actor=ADMIN_2, confirm=True)
    assert change.refusal is admin.RoleRefusal.NOT_ADMIN
    with core.database.read() as db:
        assert Role.APPROVER not in roles.roles_of(db, "U0NEWBIE1")


def test_a_cancel_nobody_can_still_be_waiting_on_is_recovered_even_when_its_process_lives(
    core: Core, provider: Counting
) -> None:
    """A settle that failed (the database was away) leaves a request `executing` under a live process: once the
    attempt is older than any call may last, recovery reads and settles it; a younger one is left alone."""
    request_id = ask(core).request.id
    approved = decisions.approve(core, request_id, approver=APPROVER)
    assert approved.ok
    upkeep.beat(core)  # the owner is alive and well
    dead_after = timedelta(seconds=20)
    assert upkeep.recover_orphans(core, dead_after=dead_after) == []
    with core.database.write() as db:
        db.execute(
            text("UPDATE cancellation_requests SET started_at = :long_ago"),
            {"long_ago": audit.utcnow() - timedelta(hours=1)},
        )
    settled = upkeep.recover_orphans(core, dead_after=dead_after)
    assert [r.request.status for r in settled if r.request] == ["unknown"]  # read: still active, so Verify
    assert provider.cancels == []  # recovery never cancels
