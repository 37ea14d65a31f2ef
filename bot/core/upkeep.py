"""Background upkeep: expire overdue requests, renew the leases of cancels in flight, settle cancels a dead
process left behind (by reading, never by cancelling), and check the audit chain."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from bot.core import transitions
from bot.core.context import Core
from bot.core.results import SYSTEM_ACTOR, Result
from providers.base import Outcome, SubscriptionStatus
from storage import audit, chain, processes, refusals, requests
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


def recover_orphans(core: Core, *, dead_after: timedelta) -> list[Result]:
    """Settle requests left `executing` by a process that died mid-cancel: read, never cancel.

    A request qualifies only when the process waiting on it has not been heard from for `dead_after` (a live one
    beats every few seconds from a thread nothing else holds), so a cancel still in flight anywhere is left alone;
    or when its attempt began longer ago than a live process ever waits (its calls have deadlines), which is how
    a request whose settle failed (the database was away) is still settled.
    Cancelled at the provider: done. Anything else: `unknown`, and an approver verifies. The settle carries the
    attempt, so a late answer of the dead process's call cannot undo it (see decisions._settle).
    """
    now = core.clock()
    # A live process waits on a read and a cancel at most (retry reads first), each bounded by the deadline.
    longest_wait = timedelta(seconds=2 * core.policy.provider_deadline) + dead_after
    with core.database.read() as db:
        orphans = requests.orphaned(db, dead_before=now - dead_after, started_before=now - longest_wait)
    settled = []
    for request in orphans:
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
                attempt=request.attempts,
            ),
        )
        if result.ok:
            settled.append(result)
    return settled


def summarize_refusals(core: Core) -> int:
    """For each user and kind of refusal repeated within a minute now past, one event with how many repeats the
    first one's event stood for; returns how many such events were written."""
    current = refusals.minute(core.clock())
    written = 0
    with core.database.write() as db:
        for subject, kind, window, count in refusals.closed(db, before=current):
            if count > 1:
                detail = {"kind": kind, "minute": window, "repeats": count - 1}
                audit.append(db, actor=subject, action="refusals.repeated", detail=detail)
                written += 1
        refusals.forget(db, before=current)
    return written


def beat(core: Core) -> None:
    """This process is alive: its in-flight cancels stay its own."""
    now = core.clock()
    with core.database.write() as db:
        if not processes.beat(db, process_id=core.process_id, now=now):
            processes.register(db, process_id=core.process_id, host=socket.gethostname(), pid=os.getpid(), now=now)


def leave(core: Core) -> None:
    """This process stops: what it still waits on is for recovery (after the grace period, nothing should be)."""
    with core.database.write() as db:
        processes.leave(db, core.process_id)


def forget_dead_processes(core: Core, *, silent_for: timedelta) -> int:
    with core.database.write() as db:
        return processes.prune(db, silent_since=core.clock() - silent_for)


def _recovered(core: Core, request: CancellationRequest) -> tuple[RequestStatus, Outcome, str]:
    provider = core.registry.get(request.provider)
    if provider is None:
        return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: provider {request.provider} is not enabled"
    seen = core.read(provider, request.subscription_id)
    status = seen.snapshot.status if seen.snapshot else None
    if status is SubscriptionStatus.CANCELLED:
        return S.CANCELLED, Outcome.CANCELLED, "after a restart: the subscription is cancelled"
    if status is None:
        return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: could not read the subscription ({seen.detail})"
    return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: the subscription is {status}; Verify before retrying"


@dataclass(frozen=True)
class ChainCheck:
    ran: bool
    report: chain.VerifyReport | None = None
    advanced: bool = False  # whole, and longer than at the last check: a new tip worth anchoring outside


def check_audit_if_due(core: Core, *, every: timedelta) -> ChainCheck:
    """Walk the chain at most once per `every` (across processes, by the last recorded check), from the tip the
    last whole check recorded, so the cost follows the new events, not the length of the log; every tip an earlier
    check recorded must still be there with the same hash."""
    now = core.clock()
    with core.database.read() as db:
        last = chain.latest_check(db)
        if last is not None and now - last.checked_at < every:
            return ChainCheck(ran=False)
        earlier = chain.recorded_anchors(db)  # each still in the chain, unchanged: one lookup per check kept
        start = earlier[-1] if earlier else None
        report = chain.verify(db, anchors=earlier, start=start)
    with core.database.write() as db:
        chain.record_check(db, report, at=now)
    advanced = report.ok and report.tip is not None and (start is None or report.tip.sequence > start.sequence)
    return ChainCheck(ran=True, report=report, advanced=advanced)
