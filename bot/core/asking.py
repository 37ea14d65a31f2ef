"""Asking for a cancellation: check the role and the limit, read the subscription, store the request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bot.core import access, transitions
from bot.core.context import Core
from bot.core.results import SYSTEM_ACTOR, Refusal, Refused, Result, answers_refusals
from providers.base import InvalidSubscriptionId, LookupResult, Outcome, SubscriptionStatus, UnknownProvider
from storage import requests, roles
from storage.models import CancellationRequest, RequestStatus, Role
from storage.requests import Transition


@dataclass(frozen=True)
class Ask:
    """A request as a person made it: who, for which subscription, why, where, and from which Slack delivery
    (a retried delivery of the same command finds its request again instead of making a second one)."""

    requester: str
    provider: str
    subscription_id: str
    reason: str
    channel: str
    command_key: str | None = None
    ticket_link: str | None = None  # the support ticket or Slack message it came from, when given


class _RoleRevoked(Exception):
    """The requester's role was revoked while the subscription was looked up."""


@answers_refusals
def request(core: Core, ask: Ask) -> Result:
    wanted = _wanted(core, ask)
    with core.database.read() as db:
        standing = requests.standing(
            db,
            user_id=ask.requester,
            command_key=ask.command_key or "",
            since=core.clock() - timedelta(days=1),
            subscription=wanted,
        )
    if ask.command_key and standing.seen:
        existing = _by_command(core, ask.command_key)
        if existing is not None:
            return Result(ok=True, request=existing, duplicate=True)
    if not any(role.includes(Role.REQUESTER) for role in standing.roles):
        # The ack trusted a recent yes; the role has been revoked since.
        access.forget_requester(core, ask.requester)
        return access.record_denied(core, ask.requester, needed=Role.REQUESTER, attempted="request")
    _check_daily_limit(core, ask.requester, made=standing.made)
    if standing.covered:
        _check_not_covered(core, wanted)  # reads the covering request, to say which
    provider, subscription_id, found = _lookup(core, ask)
    assert found.snapshot is not None
    try:
        with core.database.write() as db:
            # The role again, held until this insert commits: a revoke that lands during the lookup wins.
            if not roles.has_role(db, ask.requester, Role.REQUESTER, hold=True):
                raise _RoleRevoked
            created = requests.create(
                db,
                provider=provider,
                subscription_id=subscription_id,
                reason=ask.reason,
                requester=ask.requester,
                channel=ask.channel,
                snapshot=found.snapshot.to_json(),
                expires_at=core.clock() + core.policy.request_ttl,
                command_key=ask.command_key,
                ticket_link=ask.ticket_link,
                audit_detail={"subscription_status": found.snapshot.status.value},
            )
    except _RoleRevoked:
        access.forget_requester(core, ask.requester)
        return access.record_denied(core, ask.requester, needed=Role.REQUESTER, attempted="request")
    except IntegrityError:
        # A retried delivery of the same command won the insert a moment earlier, or another request for the same
        # subscription did (the database keeps one open request per subscription).
        existing = _by_command(core, ask.command_key) if ask.command_key else None
        if existing is not None:
            return Result(ok=True, request=existing, duplicate=True)
        _check_not_covered(core, (provider, subscription_id))
        raise
    core.known_providers.remember(created.request.id, created.request.provider)
    return Result(ok=True, request=created.request, events=[created.event])


def _wanted(core: Core, ask: Ask) -> tuple[str, str] | None:
    """The provider and the subscription id asked for, when both are valid (the lookup refuses them otherwise)."""
    provider = core.registry.get(ask.provider)
    if provider is None:
        return None
    try:
        return provider.name, provider.validate_id(ask.subscription_id)
    except InvalidSubscriptionId:
        return None


def _check_not_covered(core: Core, wanted: tuple[str, str] | None) -> None:
    """Refused when another open request may already cancel this subscription: nobody gets two cards to approve."""
    if wanted is None:
        return
    with core.database.read() as db:
        covering = requests.open_for(db, provider=wanted[0], subscription_id=wanted[1])
    if covering is not None:
        raise Refused(Result(ok=False, refusal=Refusal.ALREADY_REQUESTED, request=covering))


def _check_daily_limit(core: Core, requester: str, *, made: int) -> None:
    """Refused when the requester already made `made` requests in the last 24 hours, at or over the limit."""
    limit = core.policy.max_requests_per_day
    if made >= limit:
        access.audit_refusal(core, None, requester, "limit.requests", {"limit": limit, "window": "24h"})
        raise Refused(Result(ok=False, refusal=Refusal.OVER_LIMIT, limit=limit))


def _lookup(core: Core, ask: Ask) -> tuple[str, str, LookupResult]:
    """Validate, then read the subscription; Refused (audited when the provider said no) unless it can be
    cancelled."""
    try:
        provider = core.registry.get_provider(ask.provider)
        subscription_id = provider.validate_id(ask.subscription_id)
    except UnknownProvider as exc:
        raise Refused(Result(ok=False, refusal=Refusal.UNKNOWN_PROVIDER, detail=str(exc))) from None
    except InvalidSubscriptionId as exc:
        raise Refused(Result(ok=False, refusal=Refusal.INVALID_ID, detail=str(exc))) from None
    found = core.read(provider, subscription_id)
    refusal = _lookup_refusal(found)
    if refusal is not None:
        access.audit_refusal(
            core,
            None,
            ask.requester,
            "request.refused",
            {
                "provider": provider.name,
                "subscription_id": subscription_id,
                "why": refusal.value,
                "provider_detail": found.detail,
                "http_status": found.http_status,
            },
        )
        raise Refused(Result(ok=False, refusal=refusal, detail=found.detail))
    return provider.name, subscription_id, found


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


def _by_command(core: Core, command_key: str) -> CancellationRequest | None:
    with core.database.read() as db:
        return requests.by_command_key(db, command_key)


def card_posted(core: Core, request_id: str, *, channel: str, card_ts: str) -> None:
    """Record the posted card; this process holds its thread from now (Delivery.sync with `thread_held`)."""
    with core.database.alone() as db:
        requests.set_card(db, request_id, channel=channel, card_ts=card_ts, owner=core.process_id, now=core.clock())


def close_unposted(core: Core, request_id: str, *, why: str) -> Result:
    """The card could not be shown: nothing may stay pending where nobody can see it."""
    return transitions.apply(
        core,
        request_id,
        Transition(
            expected=RequestStatus.PENDING,
            target=RequestStatus.WITHDRAWN,
            actor=SYSTEM_ACTOR,
            action="request.withdrawn",
            detail={"why": why},
            finished_at=core.clock(),
        ),
    )
