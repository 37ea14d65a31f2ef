"""Audit integrity under load: 200 concurrent requests and decisions leave one unbroken hash chain."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.core import asking, decisions
from bot.core.asking import Ask
from bot.core.context import Core, Policy
from providers.base import (
    CancelEffect,
    CancelResult,
    LookupResult,
    Outcome,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from providers.registry import Registry
from storage import chain, roles
from storage.database import Database
from storage.models import Role


class CountingProvider:
    """Every subscription is active; every cancel succeeds and is counted."""

    name = "counting"
    label = "Counting"
    effect = CancelEffect(immediate=True, refunds=False, reversible=False)
    id_hint = "anything"

    def __init__(self) -> None:
        self.cancels: list[str] = []
        self._lock = threading.Lock()

    def validate_id(self, raw: str) -> str:
        return raw

    def lookup(self, subscription_id: str) -> LookupResult:
        return LookupResult(SubscriptionSnapshot(subscription_id, SubscriptionStatus.ACTIVE))

    def cancel(self, subscription_id: str) -> CancelResult:
        with self._lock:
            self.cancels.append(subscription_id)
        return CancelResult(Outcome.CANCELLED, "ok", 200, False, 1)


def test_two_hundred_concurrent_requests_and_decisions_keep_the_chain(database: Database) -> None:
    provider = CountingProvider()
    core = Core(
        database=database,
        registry=Registry({"counting": provider}),
        policy=Policy(request_ttl=timedelta(hours=1), max_requests_per_day=1000, max_approvals_per_hour=1000),
    )
    with database.write() as db:
        roles.grant(db, user_id="U0ASKER01", role=Role.REQUESTER, actor="cli:test")
        for n in range(4):
            roles.grant(db, user_id=f"U0APPROV{n}", role=Role.APPROVER, actor="cli:test")

    def one(n: int) -> str:
        created = asking.request(
            core,
            Ask(
                requester="U0ASKER01",
                provider="counting",
                subscription_id=f"sub-{n}",
                reason="load",
                channel="C0LOAD001",
                command_key=f"trigger-{n}",
            ),
        )
        assert created.ok and created.request is not None
        request_id = created.request.id
        approver = f"U0APPROV{n % 4}"
        if n % 2:
            assert decisions.reject(core, request_id, approver=approver).ok
        else:
            first = decisions.approve(core, request_id, approver=approver)
            late = decisions.approve(core, request_id, approver=f"U0APPROV{(n + 1) % 4}")
            assert first.ok and not late.ok  # a second approval loses and writes nothing
            assert first.request is not None
            decisions.cancel(core, first.request)
        return request_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(200)))

    assert len(set(ids)) == 200
    assert sorted(provider.cancels) == sorted(f"sub-{n}" for n in range(0, 200, 2))
    with database.write() as db:
        report = chain.verify(db)
    # 5 role grants; per request: created + rejected, or created + approved + provider answer.
    assert report.ok, report.describe()
    assert report.events == 5 + 100 * 2 + 100 * 3
