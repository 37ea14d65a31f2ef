"""Deciding a request and cancelling at the provider: approve, reject, withdraw, retry, verify, and the cancel
itself, which only the winner of a transition into `executing` ever runs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.core import access, calls, transitions, upkeep
from bot.core.context import Core
from bot.core.results import SYSTEM_ACTOR, Refusal, Refused, Result, answers_refusals
from providers.base import CancelResult, LookupResult, Outcome, SubscriptionSnapshot, SubscriptionStatus
from storage import audit, requests
from storage.errors import RequestNotFound
from storage.models import CancellationRequest, RequestStatus, Role
from storage.requests import ActionLimit, Transition

log = logging.getLogger(__name__)
S = RequestStatus
APPROVED = "request.approved"

OUTCOME_STATUS = {
    Outcome.CANCELLED: S.CANCELLED,
    Outcome.ALREADY_CANCELLED: S.ALREADY_CANCELLED,
    Outcome.UNKNOWN: S.UNKNOWN,
}


def status_for(outcome: Outcome) -> RequestStatus:
    return OUTCOME_STATUS.get(outcome, S.FAILED)


@answers_refusals
def approve(core: Core, request_id: str, *, approver: str) -> Result:
    """pending -> executing, by an approver who did not ask (unless self-approval is allowed) and is within the
    hourly limit. The approving update carries every one of those conditions, so it runs first: a click that wins
    reads nothing before it, and only one that loses reads the request to say why. The caller then runs `cancel`."""
    if not requests.looks_like_request_id(request_id):
        return Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST)
    now = core.clock()
    within = ActionLimit(action=APPROVED, since=now - timedelta(hours=1), most=core.policy.max_approvals_per_hour)
    change = Transition(
        expected=S.PENDING,
        target=S.EXECUTING,
        actor=approver,
        action=APPROVED,
        actor_role=Role.APPROVER,
        not_the_requester=not core.policy.allow_self_approval,
        unexpired_at=now,
        within=within,
        decided_by=approver,
        decided_at=now,
        started_at=now,
        lease_owner=core.process_id,
        new_attempt=True,
    )
    try:
        result = transitions.apply(core, request_id.upper(), change)
    except RequestNotFound:
        return Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST)
    if result.ok:
        return result
    return _why_not_approved(core, request_id, approver=approver, within=within, now=now)


def _why_not_approved(core: Core, request_id: str, *, approver: str, within: ActionLimit, now: datetime) -> Result:
    """A lost approval explained from the request and the approver's roles as they are now, checked in this order:
    the role (audited), their own request, the expiry (expired now, and shown), the hourly limit (audited), or
    someone decided first."""
    request = access.load_for(core, request_id, user=approver, needed=Role.APPROVER, attempted="approve")
    if approver == request.requester and not core.policy.allow_self_approval:
        access.audit_refusal(core, request.id, approver, "approval.refused", {"why": "self_approval"})
        return Result(ok=False, request=request, refusal=Refusal.SELF_APPROVAL)
    _refuse_if_expired(core, request)
    if _over_limit(core, request, approver, within, now):
        access.audit_refusal(core, request.id, approver, "limit.approvals", {"limit": within.most, "window": "1h"})
        return Result(ok=False, request=request, refusal=Refusal.OVER_LIMIT, limit=within.most)
    return Result(ok=False, request=request, refusal=transitions.lost(request))


def _over_limit(
    core: Core, request: CancellationRequest | None, actor: str, within: ActionLimit, now: datetime
) -> bool:
    """Why a decision on a request that is still pending lost: the actor's limit (the one condition left once the
    status, the expiry and the role are ruled out)."""
    if request is None or request.status != S.PENDING or request.expires_at <= now:
        return False
    with core.database.read() as db:
        made = audit.count_actions(db, actor=actor, action=within.action, since=within.since)
    return made >= within.most


@answers_refusals
def reject(core: Core, request_id: str, *, approver: str, reason: str = "") -> Result:
    """pending -> rejected, with the approver's reason (on the request and in its audit event) when given."""
    request = _rejectable(core, request_id, approver=approver)
    return _close(
        core, request, target=S.REJECTED, by=approver, action="request.rejected", role=Role.APPROVER, reason=reason
    )


@answers_refusals
def may_reject(core: Core, request_id: str, *, approver: str) -> Result:
    """Whether `approver` may reject the request now (before they are asked why); nothing is changed. The
    rejection itself checks again, in its one conditional statement."""
    request = _rejectable(core, request_id, approver=approver)
    if request.status != S.PENDING:
        return Result(ok=False, request=request, refusal=Refusal.ALREADY_DECIDED)
    return Result(ok=True, request=request)


def _rejectable(core: Core, request_id: str, *, approver: str) -> CancellationRequest:
    """The request, for an approver (Refused otherwise), expired first when its time is up."""
    request = access.load_for(core, request_id, user=approver, needed=Role.APPROVER, attempted="reject")
    _refuse_if_expired(core, request)
    return request


@answers_refusals
def withdraw(core: Core, request_id: str, *, user: str) -> Result:
    request = access.load_for(core, request_id, user=user, needed=None, attempted="withdraw")
    if user != request.requester:
        return Result(ok=False, request=request, refusal=Refusal.NOT_REQUESTER)
    return _close(core, request, target=S.WITHDRAWN, by=user, action="request.withdrawn")


@answers_refusals
def retry(core: Core, request_id: str, *, approver: str) -> Result:
    """failed (retry safe) -> executing. The caller then runs `resume`, which reads before it cancels."""
    request = access.load_for(core, request_id, user=approver, needed=Role.APPROVER, attempted="retry")
    if request.status == S.FAILED and not request.retry_safe:
        return Result(ok=False, request=request, refusal=Refusal.NOT_RETRYABLE)
    return transitions.decide(
        core,
        request.id,
        Transition(
            expected=S.FAILED,
            target=S.EXECUTING,
            actor=approver,
            action="request.retried",
            actor_role=Role.APPROVER,
            only_if_retry_safe=True,
            started_at=core.clock(),
            lease_owner=core.process_id,
            new_attempt=True,
        ),
    )


@answers_refusals
def verify(core: Core, request_id: str, *, approver: str) -> Result:
    """unknown -> read the subscription -> cancelled, or failed (safe to retry) when it is still running."""
    request = access.load_for(core, request_id, user=approver, needed=Role.APPROVER, attempted="verify")
    if request.status != S.UNKNOWN:
        return Result(ok=False, request=request, refusal=transitions.lost(request))
    seen = core.read(core.registry.get_provider(request.provider), request.subscription_id)
    target, outcome, detail, retry_safe = _verified(seen, request)
    if target is None:
        said = detail or seen.detail
        access.audit_event(core, request.id, approver, "request.verify_inconclusive", {"provider_detail": said})
        return Result(ok=False, request=_current(core, request.id), refusal=Refusal.PROVIDER_PROBLEM, detail=said)
    return transitions.decide(
        core,
        request.id,
        Transition(
            expected=S.UNKNOWN,
            target=target,
            actor=approver,
            action="request.verified",
            actor_role=Role.APPROVER,
            detail={"outcome": outcome.value, "provider_detail": detail, "subscription_status": _status_of(seen)},
            outcome=outcome.value,
            outcome_detail=detail,
            retry_safe=retry_safe,
            finished_at=core.clock(),
        ),
    )


def cancel(core: Core, request: CancellationRequest, *, when_slow: calls.WhenSlow | None = None) -> Result:
    """Cancel at the provider; only ever called by the winner of a transition into `executing`, with the request
    as that transition left it. `when_slow`: what to do meanwhile should the provider be slow to answer."""
    assert request.status == S.EXECUTING, "cancel needs the request as its move into executing left it"
    provider = core.registry.get_provider(request.provider)
    try:
        outcome = calls.cancel(
            core.calls,
            provider,
            request.subscription_id,
            deadline=core.policy.provider_deadline,
            late=lambda answer: _settle(core, request, answer, action="provider.answered"),
            when_slow=when_slow,
        )
    except Exception as exc:  # a bug in an adapter must still leave the request in a state it can leave
        log.exception("provider %s raised during cancel of request %s", request.provider, request.id)
        outcome = CancelResult(Outcome.UNKNOWN, f"internal error: {type(exc).__name__}", None, False, 0)
    return _settle(core, request, outcome, action="provider.answered")


def resume(core: Core, request: CancellationRequest) -> Result:
    """Continue a retried request from what a fresh read proves: cancel again only when the subscription surely
    still runs. A read that fails sends nothing (the request is failed again, safe to retry); a subscription our
    earlier try did cancel after all is settled as such."""
    assert request.status == S.EXECUTING, "resume needs the request as the retry left it"
    seen = core.read(core.registry.get_provider(request.provider), request.subscription_id)
    found = _before_retrying(seen, request)
    if found is not None:
        outcome, detail, retry_safe = found
        answer = CancelResult(outcome, f"read before retrying: {detail}", seen.http_status, retry_safe, seen.elapsed_ms)
        return _settle(core, request, answer, action="provider.read")
    return cancel(core, request)


def _before_retrying(seen: LookupResult, request: CancellationRequest) -> tuple[Outcome, str, bool] | None:
    """What the read before a retry settles by itself; None when the subscription still runs."""
    snapshot = seen.snapshot
    if snapshot is None:
        if seen.problem is Outcome.NOT_FOUND:
            return Outcome.NOT_FOUND, seen.detail or "subscription not found", False
        return Outcome.PROVIDER_ERROR, f"could not read the subscription ({seen.detail}); nothing was sent", True
    if snapshot.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.TERMINATED):
        return Outcome.ALREADY_CANCELLED, str(snapshot.status), False
    if snapshot.status is SubscriptionStatus.DEACTIVATED and _deactivated_since(snapshot, request.decided_at):
        return Outcome.ALREADY_CANCELLED, "the purchase was deactivated after our earlier attempt", False
    return None


def _deactivated_since(snapshot: SubscriptionSnapshot, moment: datetime | None) -> bool:
    """Whether the provider says the purchase was deactivated at or after `moment` (our approval). A deactivation
    from before it, or one without a readable date, proves nothing about our cancel."""
    stamp = snapshot.dates.get("deactivated_at")
    if not stamp or moment is None:
        return False
    try:
        deactivated = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if deactivated.tzinfo is None:
        deactivated = deactivated.replace(tzinfo=UTC)
    return deactivated >= moment


def _settle(core: Core, request: CancellationRequest, outcome: CancelResult, *, action: str) -> Result:
    """Settle the attempt `request` is at with the provider's answer. An answer that arrives after its attempt
    was settled otherwise (recovered, retried) settles nothing, but the audit log still keeps it."""
    settled = transitions.apply(
        core,
        request.id,
        Transition(
            expected=S.EXECUTING,
            target=status_for(outcome.outcome),
            actor=SYSTEM_ACTOR,
            action=action,
            detail={"attempt": request.attempts, **outcome.audit_detail()},
            outcome=outcome.outcome.value,
            outcome_detail=outcome.detail,
            retry_safe=outcome.retry_safe,
            finished_at=core.clock(),
            attempt=request.attempts,
        ),
    )
    if not settled.ok:
        log.warning("late answer for request %s, attempt %d: %s", request.id, request.attempts, outcome.outcome)
        access.audit_event(
            core,
            request.id,
            SYSTEM_ACTOR,
            "provider.answered_late",
            {"attempt": request.attempts, **outcome.audit_detail()},
        )
    return settled


def _refuse_if_expired(core: Core, request: CancellationRequest) -> None:
    """A click on a request past its expiry expires it (and says so) instead of deciding it."""
    if request.expires_at > core.clock():
        return  # not due: no write needed (the decision's own update re-checks the expiry)
    expired = upkeep.expire_if_due(core, request.id)
    if expired.ok:
        raise Refused(Result(ok=False, request=expired.request, refusal=Refusal.EXPIRED, events=expired.events))


def _close(
    core: Core,
    request: CancellationRequest,
    *,
    target: RequestStatus,
    by: str,
    action: str,
    role: Role | None = None,
    reason: str = "",
) -> Result:
    now = core.clock()
    return transitions.decide(
        core,
        request.id,
        Transition(
            expected=S.PENDING,
            target=target,
            actor=by,
            action=action,
            actor_role=role,
            detail={"why": reason} if reason else {},
            decided_by=by,
            decided_at=now,
            finished_at=now,
            decision_reason=reason or None,
        ),
    )


def _current(core: Core, request_id: str) -> CancellationRequest | None:
    with core.database.read() as db:
        return requests.find(db, request_id)


def _status_of(seen: LookupResult) -> str | None:
    return seen.snapshot.status.value if seen.snapshot else None


def _verified(seen: LookupResult, request: CancellationRequest) -> tuple[RequestStatus | None, Outcome, str, bool]:
    """What a fresh read proves about a cancel whose answer was lost; no target when it proves nothing."""
    snapshot = seen.snapshot
    if snapshot is None:
        if seen.problem is Outcome.NOT_FOUND:
            return S.FAILED, Outcome.NOT_FOUND, f"verified: {seen.detail or 'subscription not found'}", False
        return None, seen.problem or Outcome.UNKNOWN, seen.detail, False
    if snapshot.status is SubscriptionStatus.CANCELLED:
        return S.CANCELLED, Outcome.CANCELLED, "verified: the subscription is cancelled", False
    if snapshot.status is SubscriptionStatus.DEACTIVATED:
        # Kajabi's cancel deactivates the purchase; so would a deactivation by hand, which proves nothing.
        if _deactivated_since(snapshot, request.decided_at):
            return S.CANCELLED, Outcome.CANCELLED, "verified: the purchase was deactivated after our cancel", False
        return None, Outcome.UNKNOWN, "the purchase was deactivated before our cancel, which proves nothing", False
    if snapshot.status is SubscriptionStatus.TERMINATED:
        return S.FAILED, Outcome.NOT_CANCELLABLE, "verified: the subscription is terminated", False
    return S.FAILED, Outcome.PROVIDER_ERROR, f"verified: the subscription is still {snapshot.status}", True
