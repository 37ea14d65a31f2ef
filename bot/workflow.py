"""Use cases: request, approve, execute, reject, withdraw, retry, verify, expire, recover. No Slack here.

Each decision is one conditional transition in storage; the result says whether this caller won and, if not,
what the request's state is now, so the caller can give an honest answer. Provider calls happen only after a
won transition into `executing`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.requesters import RecentRequesters
from providers.base import (
    CancelResult,
    InvalidSubscriptionId,
    LookupResult,
    Outcome,
    SubscriptionSnapshot,
    SubscriptionStatus,
    UnknownProvider,
)
from providers.registry import Registry
from storage import audit, requests, roles
from storage.database import Database
from storage.models import AuditEvent, CancellationRequest, RequestStatus, Role
from storage.requests import Where

log = logging.getLogger(__name__)
S = RequestStatus

SYSTEM_ACTOR = "system"

OUTCOME_STATUS = {
    Outcome.CANCELLED: S.CANCELLED,
    Outcome.ALREADY_CANCELLED: S.ALREADY_CANCELLED,
    Outcome.UNKNOWN: S.UNKNOWN,
}


def status_for(outcome: Outcome) -> RequestStatus:
    return OUTCOME_STATUS.get(outcome, S.FAILED)


class Refusal(StrEnum):
    """Why a use case did nothing; the Slack layer turns each into words."""

    NO_ROLE = "no_role"
    UNKNOWN_PROVIDER = "unknown_provider"
    INVALID_ID = "invalid_id"
    NOT_FOUND = "not_found"
    ALREADY_CANCELLED = "already_cancelled"
    NOT_CANCELLABLE = "not_cancellable"
    PROVIDER_PROBLEM = "provider_problem"
    NO_SUCH_REQUEST = "no_such_request"
    SELF_APPROVAL = "self_approval"
    NOT_REQUESTER = "not_requester"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already_decided"
    NOT_RETRYABLE = "not_retryable"
    OVER_LIMIT = "over_limit"


@dataclass(frozen=True)
class Result:
    """What a use case did. `request` is the state after it; `events` the audit events it wrote."""

    ok: bool
    request: CancellationRequest | None = None
    refusal: Refusal | None = None
    detail: str = ""
    events: list[AuditEvent] = field(default_factory=list)
    duplicate: bool = False
    cancel: CancelResult | None = None
    lookup: LookupResult | None = None


@dataclass(frozen=True)
class Policy:
    request_ttl: timedelta = timedelta(minutes=1440)
    allow_self_approval: bool = False
    max_requests_per_day: int = 50
    max_approvals_per_hour: int = 30


class Workflow:
    def __init__(
        self,
        *,
        database: Database,
        registry: Registry,
        policy: Policy,
        clock: Callable[[], datetime] = audit.utcnow,
    ) -> None:
        self.database = database
        self.registry = registry
        self.policy = policy
        self.clock = clock
        self.requesters = RecentRequesters()
        # Cancels this process is waiting on, only to renew their leases; winners are decided in the database.
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()

    # -- authorization ------------------------------------------------------------------------------------

    def has_role(self, user_id: str, needed: Role) -> bool:
        with self.database.plain() as db:
            return roles.has_role(db, user_id, needed)

    def may_ask(self, user_id: str) -> bool:
        """Before the ack of a request: whether the user may ask. A recent yes is taken from memory; `request`
        asks the database again before it does anything."""
        if self.requesters.vouches_for(user_id):
            return True
        with self.database.plain(single=True) as db:
            allowed = roles.has_role(db, user_id, Role.REQUESTER)
        if allowed:
            self.requesters.remember(user_id)
        return allowed

    def roles_revoked(self, user_id: str) -> None:
        """Called when this process revoked a role: the next ack of theirs asks the database."""
        self.requesters.forget(user_id)

    def record_denied(self, user_id: str, *, needed: Role, attempted: str, request_id: str | None = None) -> None:
        """Someone without the role tried something: the audit log keeps it."""
        with self.database.session() as session:
            audit.append(
                session,
                actor=user_id,
                action="access.denied",
                request_id=request_id,
                detail={"needed": needed.value, "attempted": attempted},
            )

    # -- asking ---------------------------------------------------------------------------------------------

    def find_by_command(self, command_key: str) -> CancellationRequest | None:
        with self.database.plain() as db:
            return requests.by_command_key(db, command_key)

    def lookup(self, provider_name: str, raw_id: str) -> tuple[str, str, LookupResult]:
        """Validate, then read the subscription. Raises UnknownProvider / InvalidSubscriptionId before any call."""
        provider = self.registry.get_provider(provider_name)
        subscription_id = provider.validate_id(raw_id)
        return provider.name, subscription_id, provider.lookup(subscription_id)

    def request(
        self,
        *,
        requester: str,
        provider_name: str,
        raw_id: str,
        reason: str,
        channel: str,
        command_key: str | None,
    ) -> Result:
        with self.database.plain(single=True) as db:
            held, seen = requests.standing(db, user_id=requester, command_key=command_key or "")
        if command_key and seen:
            existing = self.find_by_command(command_key)
            if existing is not None:
                return Result(ok=True, request=existing, duplicate=True)
        if not any(role.includes(Role.REQUESTER) for role in held):
            # The ack trusted a recent yes; the role has been revoked since.
            self.requesters.forget(requester)
            self.record_denied(requester, needed=Role.REQUESTER, attempted="request")
            return Result(ok=False, refusal=Refusal.NO_ROLE, detail=Role.REQUESTER.value)
        limit = self.policy.max_requests_per_day
        with self.database.plain() as db:
            made = requests.count_since(db, requester=requester, since=self.clock() - timedelta(days=1))
        if made >= limit:
            self._audit(None, requester, "limit.requests", {"limit": limit, "window": "24h"})
            return Result(
                ok=False,
                refusal=Refusal.OVER_LIMIT,
                detail=f"{limit} requests in 24 hours is the limit; ask an admin if you need more.",
            )
        try:
            provider, subscription_id, found = self.lookup(provider_name, raw_id)
        except UnknownProvider as exc:
            return Result(ok=False, refusal=Refusal.UNKNOWN_PROVIDER, detail=str(exc))
        except InvalidSubscriptionId as exc:
            return Result(ok=False, refusal=Refusal.INVALID_ID, detail=str(exc))
        refusal = _lookup_refusal(found)
        if refusal is not None:
            with self.database.session() as session:
                event = audit.append(
                    session,
                    actor=requester,
                    action="request.refused",
                    detail={
                        "provider": provider,
                        "subscription_id": subscription_id,
                        "why": refusal.value,
                        "provider_detail": found.detail,
                        "http_status": found.http_status,
                    },
                )
            return Result(ok=False, refusal=refusal, detail=found.detail, lookup=found, events=[event])
        assert found.snapshot is not None
        try:
            with self.database.plain(write=True) as db:
                created = requests.create(
                    db,
                    provider=provider,
                    subscription_id=subscription_id,
                    reason=reason,
                    requester=requester,
                    channel=channel,
                    snapshot=found.snapshot.to_json(),
                    expires_at=self.clock() + self.policy.request_ttl,
                    command_key=command_key,
                    audit_detail={"subscription_status": found.snapshot.status.value},
                )
                events = audit.events_for_request(db, created.id)
        except IntegrityError:
            # A retried delivery of the same command won the insert a moment earlier.
            existing = self.find_by_command(command_key) if command_key else None
            if existing is None:
                raise
            return Result(ok=True, request=existing, duplicate=True)
        return Result(ok=True, request=created, events=events, lookup=found)

    def card_posted(self, request_id: str, *, channel: str, card_ts: str) -> None:
        with self.database.plain(write=True) as db:
            requests.set_card(db, request_id, channel=channel, card_ts=card_ts)

    def close_unposted(self, request_id: str, *, why: str) -> Result:
        """The card could not be shown: nothing may stay pending where nobody can see it."""
        return self._transition(
            request_id,
            expected=S.PENDING,
            target=S.WITHDRAWN,
            actor=SYSTEM_ACTOR,
            action="request.withdrawn",
            detail={"why": why},
            finished_at=self.clock(),
        )

    # -- deciding -------------------------------------------------------------------------------------------

    def approve(self, request_id: str, *, approver: str) -> Result:
        request = self._load(request_id, user=approver, needed=Role.APPROVER, attempted="approve")
        if isinstance(request, Result):
            return request
        if approver == request.requester and not self.policy.allow_self_approval:
            self._audit(request.id, approver, "approval.refused", {"why": "self_approval"})
            return Result(ok=False, request=request, refusal=Refusal.SELF_APPROVAL)
        expired = self._expired(request)
        if expired is not None:
            return expired
        now = self.clock()
        limit = self.policy.max_approvals_per_hour
        with self.database.plain() as db:
            given = audit.count_actions(db, actor=approver, action="request.approved", since=now - timedelta(hours=1))
        if given >= limit:
            self._audit(request.id, approver, "limit.approvals", {"limit": limit, "window": "1h"})
            return Result(
                ok=False,
                request=request,
                refusal=Refusal.OVER_LIMIT,
                detail=f"{limit} approvals in an hour is the limit; another approver can take this one.",
            )
        return self._decide(
            request.id,
            expected=S.PENDING,
            target=S.EXECUTING,
            actor=approver,
            action="request.approved",
            only_if=[Where("expires_at", ">", now)],
            decided_by=approver,
            decided_at=now,
            started_at=now,
            attempts=request.attempts + 1,
        )

    def execute(self, request_id: str) -> Result:
        """Cancel at the provider; only ever called by the winner of a transition into `executing`."""
        request = self.get(request_id)
        assert request is not None and request.status == S.EXECUTING, "execute needs a request in executing"
        provider = self.registry.get_provider(request.provider)
        with self._in_flight_lock:
            self._in_flight.add(request.id)
        try:
            outcome = provider.cancel(request.subscription_id)
        except Exception as exc:  # a bug in an adapter must still leave the request in a state it can leave
            log.exception("provider %s raised during cancel of request %s", request.provider, request.id)
            outcome = CancelResult(Outcome.UNKNOWN, f"internal error: {type(exc).__name__}", None, False, 0)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(request.id)
        return self._settle(request, outcome, action="provider.answered")

    def renew_leases(self) -> int:
        with self._in_flight_lock:
            waiting = sorted(self._in_flight)
        if not waiting:
            return 0
        with self.database.session() as session:
            return requests.renew_leases(session, waiting, self.clock())

    def _settle(self, request: CancellationRequest, outcome: CancelResult, *, action: str) -> Result:
        result = self._transition(
            request.id,
            expected=S.EXECUTING,
            target=status_for(outcome.outcome),
            actor=SYSTEM_ACTOR,
            action=action,
            detail=outcome.audit_detail(),
            outcome=outcome.outcome.value,
            outcome_detail=outcome.detail,
            retry_safe=outcome.retry_safe,
            finished_at=self.clock(),
        )
        return Result(ok=result.ok, request=result.request, events=result.events, cancel=outcome)

    def reject(self, request_id: str, *, approver: str) -> Result:
        request = self._load(request_id, user=approver, needed=Role.APPROVER, attempted="reject")
        if isinstance(request, Result):
            return request
        expired = self._expired(request)
        if expired is not None:
            return expired
        return self._close(request, target=S.REJECTED, by=approver, action="request.rejected")

    def withdraw(self, request_id: str, *, user: str) -> Result:
        request = self._load(request_id, user=user, needed=None, attempted="withdraw")
        if isinstance(request, Result):
            return request
        if user != request.requester:
            return Result(ok=False, request=request, refusal=Refusal.NOT_REQUESTER)
        return self._close(request, target=S.WITHDRAWN, by=user, action="request.withdrawn")

    def retry(self, request_id: str, *, approver: str) -> Result:
        """failed (retry safe) -> executing. The caller then runs `resume`, which reads before it cancels."""
        request = self._load(request_id, user=approver, needed=Role.APPROVER, attempted="retry")
        if isinstance(request, Result):
            return request
        if request.status == S.FAILED and not request.retry_safe:
            return Result(ok=False, request=request, refusal=Refusal.NOT_RETRYABLE)
        return self._decide(
            request.id,
            expected=S.FAILED,
            target=S.EXECUTING,
            actor=approver,
            action="request.retried",
            only_if=[Where("retry_safe", "=", True)],
            started_at=self.clock(),
            attempts=request.attempts + 1,
        )

    def resume(self, request_id: str) -> Result:
        """Continue a retried request: if the earlier try did cancel after all, say so instead of cancelling again."""
        request = self.get(request_id)
        assert request is not None and request.status == S.EXECUTING
        provider = self.registry.get_provider(request.provider)
        seen = provider.lookup(request.subscription_id)
        if seen.snapshot is not None and seen.snapshot.status in (
            SubscriptionStatus.CANCELLED,
            SubscriptionStatus.TERMINATED,
        ):
            outcome = CancelResult(
                Outcome.ALREADY_CANCELLED,
                f"read before retrying: {seen.snapshot.status}",
                seen.http_status,
                False,
                seen.elapsed_ms,
            )
            return self._settle(request, outcome, action="provider.read")
        return self.execute(request_id)

    def verify(self, request_id: str, *, approver: str) -> Result:
        """unknown -> read the subscription -> cancelled, or failed (safe to retry) when it is still running."""
        request = self._load(request_id, user=approver, needed=Role.APPROVER, attempted="verify")
        if isinstance(request, Result):
            return request
        if request.status != S.UNKNOWN:
            return Result(ok=False, request=request, refusal=self._lost_refusal(request))
        provider = self.registry.get_provider(request.provider)
        seen = provider.lookup(request.subscription_id)
        target, outcome, detail, retry_safe = _verified(seen)
        if target is None:
            self._audit(request.id, approver, "request.verify_inconclusive", {"provider_detail": seen.detail})
            return Result(
                ok=False,
                request=self.get(request.id),
                refusal=Refusal.PROVIDER_PROBLEM,
                detail=seen.detail,
                lookup=seen,
            )
        return self._decide(
            request.id,
            expected=S.UNKNOWN,
            target=target,
            actor=approver,
            action="request.verified",
            detail={"outcome": outcome.value, "provider_detail": detail, "subscription_status": _status_of(seen)},
            outcome=outcome.value,
            outcome_detail=detail,
            retry_safe=retry_safe,
            finished_at=self.clock(),
        )

    def _load(
        self,
        request_id: str,
        *,
        user: str,
        needed: Role | None,
        attempted: str,
    ) -> CancellationRequest | Result:
        """The request, or the refusal when it does not exist or the user lacks the role (which is audited);
        both read in one transaction."""
        if not requests.looks_like_request_id(request_id):
            return Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST)
        with self.database.plain() as db:
            request = requests.find(db, request_id)
            allowed = needed is None or roles.has_role(db, user, needed)
        if request is None:
            return Result(ok=False, refusal=Refusal.NO_SUCH_REQUEST)
        if needed is not None and not allowed:
            self.record_denied(user, needed=needed, attempted=attempted, request_id=request.id)
            return Result(ok=False, request=request, refusal=Refusal.NO_ROLE, detail=needed.value)
        return request

    def _expired(self, request: CancellationRequest) -> Result | None:
        """A click on a request past its expiry expires it (and says so) instead of deciding it."""
        if request.expires_at > self.clock():
            return None  # not due: no write needed (the decision's own update re-checks the expiry)
        expired = self.expire_if_due(request.id)
        if not expired.ok:
            return None
        return Result(ok=False, request=expired.request, refusal=Refusal.EXPIRED, events=expired.events)

    def _close(self, request: CancellationRequest, *, target: RequestStatus, by: str, action: str) -> Result:
        now = self.clock()
        return self._decide(
            request.id,
            expected=S.PENDING,
            target=target,
            actor=by,
            action=action,
            decided_by=by,
            decided_at=now,
            finished_at=now,
        )

    def _decide(self, request_id: str, **transition: Any) -> Result:
        """A transition whose loser is told why: someone decided first, or it expired."""
        result = self._transition(request_id, **transition)
        if not result.ok:
            return Result(ok=False, request=result.request, refusal=self._lost_refusal(result.request))
        return result

    # -- time -----------------------------------------------------------------------------------------------

    def expire_if_due(self, request_id: str) -> Result:
        """pending and past its expiry -> expired. ok=True only for the caller that expired it."""
        now = self.clock()
        return self._transition(
            request_id,
            expected=S.PENDING,
            target=S.EXPIRED,
            actor=SYSTEM_ACTOR,
            action="request.expired",
            only_if=[Where("expires_at", "<=", now)],
            finished_at=now,
        )

    def expire_due(self) -> list[Result]:
        with self.database.session() as session:
            due = [r.id for r in requests.expired_pending(session, self.clock())]
        return [r for r in (self.expire_if_due(request_id) for request_id in due) if r.ok]

    def recover_stale(self, *, older_than: timedelta) -> list[Result]:
        """Settle requests left `executing` by a process that died mid-cancel: read, never cancel.

        Only requests whose lease is older than `older_than` qualify: a process waiting on a cancel renews its lease
        on every sweep, so a cancel another replica is still waiting on is left alone. Cancelled at the provider:
        done. Anything else: `unknown`, and an approver verifies.
        """
        with self.database.session() as session:
            stale = requests.stale_executing(session, self.clock() - older_than)
        settled = []
        for request in stale:
            target, outcome, detail = self._recovered(request)
            result = self._transition(
                request.id,
                expected=S.EXECUTING,
                target=target,
                actor=SYSTEM_ACTOR,
                action="request.recovered",
                detail={"outcome": outcome.value, "provider_detail": detail},
                outcome=outcome.value,
                outcome_detail=detail,
                retry_safe=False,
                finished_at=self.clock(),
            )
            if result.ok:
                settled.append(result)
        return settled

    def _recovered(self, request: CancellationRequest) -> tuple[RequestStatus, Outcome, str]:
        provider = self.registry.get(request.provider)
        if provider is None:
            return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: provider {request.provider} is not enabled"
        seen = provider.lookup(request.subscription_id)
        status = seen.snapshot.status if seen.snapshot else None
        if status is SubscriptionStatus.CANCELLED:
            return S.CANCELLED, Outcome.CANCELLED, "after a restart: the subscription is cancelled"
        if status is None:
            return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: could not read the subscription ({seen.detail})"
        return S.UNKNOWN, Outcome.UNKNOWN, f"after a restart: the subscription is {status}; Verify before retrying"

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, request_id: str) -> CancellationRequest | None:
        if not requests.looks_like_request_id(request_id):
            return None
        with self.database.plain() as db:
            return requests.find(db, request_id)

    def history(self, request_id: str) -> list[AuditEvent]:
        with self.database.reader() as session:
            return audit.events_for_request(session, request_id)

    def snapshot_of(self, request: CancellationRequest) -> SubscriptionSnapshot | None:
        return SubscriptionSnapshot.from_json(request.snapshot)

    # -- helpers --------------------------------------------------------------------------------------------

    def _transition(
        self,
        request_id: str,
        *,
        expected: RequestStatus,
        target: RequestStatus,
        actor: str,
        action: str,
        detail: dict[str, object] | None = None,
        only_if: Sequence[Where] = (),
        **values: object,
    ) -> Result:
        with self.database.plain(write=True) as db:
            outcome = requests.transition(
                db,
                request_id,
                expected=expected,
                target=target,
                actor=actor,
                action=action,
                detail=detail,
                only_if=only_if,
                **values,
            )
        events = [outcome.event] if outcome.event is not None else []
        return Result(ok=outcome.won, request=outcome.request, events=events)

    def _audit(self, request_id: str | None, actor: str, action: str, detail: dict[str, object]) -> None:
        with self.database.session() as session:
            audit.append(session, actor=actor, action=action, request_id=request_id, detail=detail)

    @staticmethod
    def _lost_refusal(request: CancellationRequest | None) -> Refusal:
        if request is None:
            return Refusal.NO_SUCH_REQUEST
        return Refusal.EXPIRED if request.status == S.EXPIRED else Refusal.ALREADY_DECIDED


def _lookup_refusal(found: LookupResult) -> Refusal | None:
    if found.snapshot is None:
        if found.problem is Outcome.NOT_FOUND:
            return Refusal.NOT_FOUND
        return Refusal.PROVIDER_PROBLEM
    if found.snapshot.status is SubscriptionStatus.CANCELLED:
        return Refusal.ALREADY_CANCELLED
    if found.snapshot.status is SubscriptionStatus.TERMINATED:
        return Refusal.NOT_CANCELLABLE
    return None


def _status_of(seen: LookupResult) -> str | None:
    return seen.snapshot.status.value if seen.snapshot else None


def _verified(seen: LookupResult) -> tuple[RequestStatus | None, Outcome, str, bool]:
    """What a fresh read says about a cancel whose answer was lost."""
    snapshot = seen.snapshot
    if snapshot is None:
        if seen.problem is Outcome.NOT_FOUND:
            return S.FAILED, Outcome.NOT_FOUND, f"verified: {seen.detail or 'subscription not found'}", False
        return None, seen.problem or Outcome.UNKNOWN, seen.detail, False
    if snapshot.status is SubscriptionStatus.CANCELLED:
        return S.CANCELLED, Outcome.CANCELLED, "verified: the subscription is cancelled", False
    if snapshot.status is SubscriptionStatus.DEACTIVATED:
        # Kajabi's cancel deactivates the purchase; a manual deactivation would too, so the audit says which test ran.
        return S.CANCELLED, Outcome.CANCELLED, "verified: the purchase is deactivated after the cancel", False
    if snapshot.status is SubscriptionStatus.TERMINATED:
        return S.FAILED, Outcome.NOT_CANCELLABLE, "verified: the subscription is terminated", False
    return S.FAILED, Outcome.PROVIDER_ERROR, f"verified: the subscription is still {snapshot.status}", True
