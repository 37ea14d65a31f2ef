"""Background upkeep: expire overdue requests, renew the leases of cancels in flight, settle cancels a dead
process left behind (by reading, never by cancelling), and check the audit chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.core import transitions
from bot.core.context import Core
from bot.core.results import SYSTEM_ACTOR, Result
from providers.base import Outcome, SubscriptionStatus
from storage import audit, requests
from storage.models import CancellationRequest, RequestStatus
from storage.requests import Transition

S = RequestStatus


def expire_if_due(core: Core, request_id: str) -> Result:
    """pending and past its expiry -> expired. ok=True only for the caller that expired it."""
    now = core.clock()
    return transitions.apply(
        core,
        request_id,
        Transition(
            expected=S.PENDING,
            target=S.EXPIRED,
            actor=SYSTEM_ACTOR,
            action="request.expired",
            due_at=now,
            finished_at=now,
        ),
    )


def expire_due(core: Core) -> list[Result]:
    with core.database.read() as db:
        due = [r.id for r in requests.expired_pending(db, core.clock())]
    return [r for r in (expire_if_due(core, request_id) for request_id in due) if r.ok]


def renew_leases(core: Core) -> int:
    """This process is still waiting on these cancels: recovery elsewhere leaves them alone."""
    waiting = core.in_flight.snapshot()
    if not waiting:
        return 0
    with core.database.write() as db:
        return requests.renew_leases(db, waiting, core.clock())


def recover_stale(core: Core, *, older_than: timedelta) -> list[Result]:
    """Settle requests left `executing` by a process that died mid-cancel: read, never cancel.

    Only requests whose lease is older than `older_than` qualify: a process waiting on a cancel renews its lease
    on every sweep, so a cancel another replica is still waiting on is left alone. Cancelled at the provider:
    done. Anything else: `unknown`, and an approver verifies.
    """
    with core.database.read() as db:
        stale = requests.stale_executing(db, core.clock() - older_than)
    settled = []
    for request in stale:
        target, outcome, detail = _recovered(core, request)
        result = transitions.apply(
            core,
            request.id,
            Transition(
                expected=S.EXECUTING,
                target=target,
                actor=SYSTEM_ACTOR,
                action="request.recovered",
                detail={"outcome": outcome.value, "provider_detail": detail},
                outcome=outcome.value,
                outcome_detail=detail,
                retry_safe=False,
                finished_at=core.clock(),
            ),
        )
        if result.ok:
            settled.append(result)
    return settled


def _recovered(core: Core, request: CancellationRequest) -> tuple[RequestStatus, Outcome, str]:
    provider = core.registry.get(request.provider)
    if provider is None:
        return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: provider {request.provider} is not enabled"
    seen = provider.lookup(request.subscription_id)
    status = seen.snapshot.status if seen.snapshot else None
    if status is SubscriptionStatus.CANCELLED:
        return S.CANCELLED, Outcome.CANCELLED, "after a restart: the subscription is cancelled"
    if status is None:
        return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: could not read the subscription ({seen.detail})"
    return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: the subscription is {status}; Verify before retrying"


@dataclass(frozen=True)
class ChainCheck:
    ran: bool
    report: audit.VerifyReport | None = None


def check_audit_if_due(core: Core, *, every: timedelta) -> ChainCheck:
    """A full walk of the chain at most once per `every` (across processes, by the last recorded check)."""
    now = core.clock()
    with core.database.read() as db:
        last = audit.latest_check(db)
    if last is not None and now - last.checked_at < every:
        return ChainCheck(ran=False)
    with core.database.read() as db:
        report = audit.verify(db)
    with core.database.write() as db:
        audit.record_check(db, report)
    return ChainCheck(ran=True, report=report)
