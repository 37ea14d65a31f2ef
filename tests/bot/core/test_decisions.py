"""Retry and Verify decide only from what a fresh read proves, against fakes that act like the providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core import asking, decisions
from bot.core.asking import Ask
from bot.core.context import Core
from bot.core.results import Refusal
from providers.kajabi import KajabiProvider
from providers.onekey import OneKeyProvider
from providers.registry import Registry
from storage import roles
from storage.database import Database
from storage.models import Role
from tests.support.providers import KajabiPurchase, OneKeySubscription, Sleeps

ASKER, APPROVER = "U0ASKER01", "U0APPROV1"


@pytest.fixture
def kajabi() -> KajabiPurchase:
    return KajabiPurchase()


@pytest.fixture
def onekey() -> OneKeySubscription:
    return OneKeySubscription()


@pytest.fixture
def core(sqlite_database: Database, kajabi: KajabiPurchase, onekey: OneKeySubscription) -> Iterator[Core]:
    registry = Registry(
        {
            "kajabi": KajabiProvider(
                client=kajabi.client(), client_id="i", client_secret="s", base_url="https://k.test", sleep=Sleeps()
            ),
            "onekey": OneKeyProvider(
                client=onekey.client(), api_key="k", api_signature="s", base_url="https://o.test", sleep=Sleeps()
            ),
        }
    )
    with sqlite_database.write() as db:
        roles.grant(db, user_id=ASKER, role=Role.REQUESTER, actor="cli:test")
        roles.grant(db, user_id=APPROVER, role=Role.APPROVER, actor="cli:test")
    yield Core(database=sqlite_database, registry=registry)


def approved_and_cancelled(core: Core, provider: str, subscription_id: str) -> str:
    made = asking.request(core, Ask(ASKER, provider, subscription_id, "customer asked", "C0CHANNEL"))
    assert made.ok and made.request is not None, made
    approved = decisions.approve(core, made.request.id, approver=APPROVER)
    assert approved.ok and approved.request is not None
    decisions.cancel(core, approved.request)
    return made.request.id


def test_kajabi_acting_then_answering_500_is_unknown_and_verify_proves_the_cancel(
    core: Core, kajabi: KajabiPurchase
) -> None:
    kajabi.fail_after_acting = 1
    request_id = approved_and_cancelled(core, "kajabi", "2150820")
    request = decisions.verify(core, request_id, approver=APPROVER).request
    assert request is not None and request.status == "cancelled", request
    assert "deactivated after our cancel" in (request.outcome_detail or "")
    assert kajabi.cancels == 1


def test_verify_does_not_count_a_deactivation_from_before_the_approval(core: Core, kajabi: KajabiPurchase) -> None:
    kajabi.fail_after_acting = 1
    request_id = approved_and_cancelled(core, "kajabi", "2150820")
    kajabi.deactivated_at = "2026-01-01T00:00:00Z"  # deactivated by hand long before anyone asked
    verified = decisions.verify(core, request_id, approver=APPROVER)
    assert not verified.ok and verified.refusal is Refusal.PROVIDER_PROBLEM
    assert verified.request is not None and verified.request.status == "unknown"
    assert "before our cancel" in verified.detail


def test_a_retry_whose_read_fails_sends_nothing_and_stays_safe_to_retry(core: Core, onekey: OneKeySubscription) -> None:
    onekey.fail_before_acting = 1
    request_id = approved_and_cancelled(core, "onekey", "219")
    retried = decisions.retry(core, request_id, approver=APPROVER)
    assert retried.ok and retried.request is not None
    onekey.fail_reads = 10
    settled = decisions.resume(core, retried.request).request
    assert settled is not None and settled.status == "failed" and settled.retry_safe
    assert "nothing was sent" in (settled.outcome_detail or "")
    assert onekey.deletes == 1


def test_a_retry_after_a_try_that_did_act_cancels_nothing_more(core: Core, onekey: OneKeySubscription) -> None:
    onekey.fail_after_acting = 1
    request_id = approved_and_cancelled(core, "onekey", "219")
    retried = decisions.retry(core, request_id, approver=APPROVER)
    assert retried.ok and retried.request is not None
    settled = decisions.resume(core, retried.request).request
    assert settled is not None and settled.status == "already_cancelled"
    assert onekey.deletes == 1
