"""Cancellation requests: create, read, and change them only by conditional transitions with their audit event."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from storage import audit, chain, processes
from storage.database import load, table
from storage.errors import IllegalTransition, RequestNotFound
from storage.models import AuditEvent, CancellationRequest, RequestStatus, Role, RoleAssignment
from storage.roles import holds_role, roles_including

S = RequestStatus

ALLOWED: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.PENDING: frozenset({S.EXECUTING, S.REJECTED, S.WITHDRAWN, S.EXPIRED}),
    S.EXECUTING: frozenset({S.CANCELLED, S.ALREADY_CANCELLED, S.FAILED, S.UNKNOWN}),
    S.FAILED: frozenset({S.EXECUTING}),
    S.UNKNOWN: frozenset({S.CANCELLED, S.ALREADY_CANCELLED, S.FAILED}),
}

_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L: ids are read aloud and retyped
REQUEST_ID_PREFIX = "CR-"
REQUEST_ID_LENGTH = 8


def new_request_id() -> str:
    return REQUEST_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(REQUEST_ID_LENGTH))


def looks_like_request_id(text: str) -> bool:
    body = text.upper().removeprefix(REQUEST_ID_PREFIX)
    return (
        text.upper().startswith(REQUEST_ID_PREFIX)
        and len(body) == REQUEST_ID_LENGTH
        and all(c in _ID_ALPHABET for c in body)
    )


def check_transition(current: RequestStatus, target: RequestStatus) -> None:
    if target not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(f"a request cannot go from {current} to {target}")


_requests = table(CancellationRequest)
_events = table(AuditEvent)
_c = _requests.c
_BY_ID = select(_requests).where(_c.id == bindparam("id"))
_STATE_BY_ID = select(_c.status, _c.outcome).where(_c.id == bindparam("id"))
_PROVIDER_BY_ID = select(_c.provider).where(_c.id == bindparam("id"))
_BY_COMMAND_KEY = select(_requests).where(_c.command_key == bindparam("command_key"))
_INSERT = insert(_requests)
_ACTIONS_SINCE = audit.count_of_actions(
    bindparam("actor"), bindparam("limit_action"), bindparam("limit_since", type_=_events.c.time.type)
)


@dataclass(frozen=True)
class ActionLimit:
    """At most `most` events of `action` by the transition's actor since `since` (a velocity limit)."""

    action: str
    since: datetime
    most: int


@dataclass(frozen=True)
class Transition:
    """One status change: where the request must be, where it goes, who did it, what it records, and the
    conditions the row must still meet when the update runs (all in the one conditional UPDATE)."""

    expected: RequestStatus
    target: RequestStatus
    actor: str
    action: str
    detail: dict[str, Any] = field(default_factory=dict)
    # Recorded on the request when given (None leaves the column as it is).
    decided_by: str | None = None
    decided_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    outcome_detail: str | None = None
    decision_reason: str | None = None
    retry_safe: bool | None = None
    lease_owner: str | None = None  # the process that will wait on the cancel
    new_attempt: bool = False  # attempts + 1, counted by the database
    # Conditions beyond the status.
    unexpired_at: datetime | None = None  # expires_at > this
    due_at: datetime | None = None  # expires_at <= this
    only_if_retry_safe: bool = False
    attempt: int | None = None  # attempts == this: an answer settles only the attempt it belongs to
    actor_role: Role | None = None  # the actor holds this role (or one above it) when the update runs
    not_the_requester: bool = False  # the actor is not the one who asked (no approving one's own request)
    # The actor is still under this limit when the update runs (counted in the same statement, so on SQLite,
    # where writes take turns, two decisions at the very limit cannot both pass).
    within: ActionLimit | None = None


_RECORDED = (
    "decided_by",
    "decided_at",
    "started_at",
    "finished_at",
    "outcome",
    "outcome_detail",
    "decision_reason",
    "retry_safe",
    "lease_owner",
)


@functools.cache
def _transition_statement(
    recorded: tuple[str, ...],
    *,
    new_attempt: bool,
    unexpired: bool,
    due: bool,
    retry_safe: bool,
    attempt: bool,
    role: bool,
    not_the_requester: bool,
    limited: bool,
) -> Update:
    """The conditional UPDATE of one shape of transition, built once: the few shapes come from the use cases'
    code, and a statement built once is compiled once (SQLAlchemy's cache keys it by the object). RETURNING
    (SQLite 3.35 and later, PostgreSQL) gives the winner the changed row in the same statement."""
    values: dict[str, Any] = {"status": bindparam("target"), **{name: bindparam(name) for name in recorded}}
    if new_attempt:
        values["attempts"] = _c.attempts + 1
    conditions = [_c.id == bindparam("request_id"), _c.status == bindparam("expected")]
    if unexpired:
        conditions.append(_c.expires_at > bindparam("unexpired_at", type_=_c.expires_at.type))
    if due:
        conditions.append(_c.expires_at <= bindparam("due_at", type_=_c.expires_at.type))
    if retry_safe:
        conditions.append(_c.retry_safe.is_(True))
    if attempt:
        conditions.append(_c.attempts == bindparam("attempt"))
    if role:
        conditions.append(holds_role(bindparam("actor"), bindparam("roles", expanding=True)))
    if not_the_requester:
        conditions.append(_c.requester != bindparam("actor"))
    if limited:
        conditions.append(_ACTIONS_SINCE.scalar_subquery() < bindparam("limit_most"))
    return update(_requests).where(*conditions).values(values).returning(*_requests.c)


@dataclass(frozen=True)
class TransitionResult:
    won: bool
    request: CancellationRequest
    event: AuditEvent | None = None  # the winner's audit event


@dataclass(frozen=True)
class Created:
    request: CancellationRequest
    event: AuditEvent  # its request.created


def create(
    db: Connection,
    *,
    provider: str,
    subscription_id: str,
    reason: str,
    requester: str,
    channel: str,
    snapshot: str,
    expires_at: datetime,
    command_key: str | None = None,
    ticket_link: str | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> Created:
    now = audit.utcnow()
    # Our own values, already checked: model_construct skips the table model's __init__ (a tenth of its cost).
    request = CancellationRequest.model_construct(
        id=new_request_id(),
        provider=provider,
        subscription_id=subscription_id,
        reason=reason,
        requester=requester,
        channel=channel,
        status=S.PENDING,
        snapshot=snapshot,
        created_at=now,
        expires_at=expires_at,
        command_key=command_key,
        ticket_link=ticket_link,
    )
    db.execute(_INSERT, request.model_dump())
    event = audit.append(
        db,
        actor=requester,
        action="request.created",
        request_id=request.id,
        detail={
            "provider": provider,
            "subscription_id": subscription_id,
            "reason": reason,
            "channel": channel,
            "expires_at": chain.format_time(expires_at),
            **({"ticket": ticket_link} if ticket_link else {}),
            **(audit_detail or {}),
        },
    )
    return Created(request, event)


def get(db: Connection, request_id: str) -> CancellationRequest:
    request = find(db, request_id)
    if request is None:
        raise RequestNotFound(f"no request {request_id}")
    return request


def find(db: Connection, request_id: str) -> CancellationRequest | None:
    """The request as stored now."""
    found = load(CancellationRequest, db.execute(_BY_ID, {"id": request_id.upper()}))
    return found[0] if found else None


def state_of(db: Connection, request_id: str) -> tuple[str, str | None] | None:
    """The request's status and outcome alone: a cheap look at whether it moved on."""
    row = db.execute(_STATE_BY_ID, {"id": request_id.upper()}).first()
    return None if row is None else (row.status, row.outcome)


def provider_of(db: Connection, request_id: str) -> str | None:
    """The provider a request is for (it never changes)."""
    return db.execute(_PROVIDER_BY_ID, {"id": request_id.upper()}).scalar()


_OPEN = or_(
    _c.status.in_([S.PENDING.value, S.EXECUTING.value, S.UNKNOWN.value]),
    and_(_c.status == S.FAILED.value, _c.retry_safe.is_(True)),
)
_OPEN_FOR = select(_requests).where(
    _c.provider == bindparam("provider"), _c.subscription_id == bindparam("subscription_id"), _OPEN
)


def open_for(db: Connection, *, provider: str, subscription_id: str) -> CancellationRequest | None:
    """The request that may still cancel this subscription (the database keeps at most one: see migration 0005)."""
    found = load(CancellationRequest, db.execute(_OPEN_FOR, {"provider": provider, "subscription_id": subscription_id}))
    return found[0] if found else None


def by_command_key(db: Connection, command_key: str) -> CancellationRequest | None:
    found = load(CancellationRequest, db.execute(_BY_COMMAND_KEY, {"command_key": command_key}))
    return found[0] if found else None


def transition(db: Connection, request_id: str, change: Transition) -> TransitionResult:
    """Apply `change`, with its audit event, if and only if the request is still in `change.expected` and meets its
    conditions. The caller that gets `won=True` is the one and only winner, whatever other threads or processes did.
    On PostgreSQL it is one statement, so it may run in Database.alone(); on SQLite it needs a transaction."""
    check_transition(change.expected, change.target)
    recorded = tuple(name for name in _RECORDED if getattr(change, name) is not None)
    statement = _transition_statement(
        recorded,
        new_attempt=change.new_attempt,
        unexpired=change.unexpired_at is not None,
        due=change.due_at is not None,
        retry_safe=change.only_if_retry_safe,
        attempt=change.attempt is not None,
        role=change.actor_role is not None,
        not_the_requester=change.not_the_requester,
        limited=change.within is not None,
    )
    params: dict[str, Any] = {name: getattr(change, name) for name in recorded}
    params.update(
        request_id=request_id,
        expected=change.expected.value,
        target=change.target.value,
        unexpired_at=change.unexpired_at,
        due_at=change.due_at,
        actor=change.actor,
        roles=roles_including(change.actor_role) if change.actor_role else [],
        attempt=change.attempt,
    )
    if change.within is not None:
        params.update(limit_action=change.within.action, limit_since=change.within.since, limit_most=change.within.most)
    event = audit.new_event(
        actor=change.actor,
        action=change.action,
        request_id=request_id,
        detail={"from": change.expected.value, "to": change.target.value, **change.detail},
    )
    if db.dialect.name == "postgresql":
        # The update and its event in one statement, so it may run alone (Database.alone): the chain's tip is then
        # locked only while the server runs it, never while this process comes back to commit.
        row = db.execute(_with_event(statement), {**params, **event.params}).first()
        if row is None:
            return TransitionResult(won=False, request=get(db, request_id))
        fields = {name: value for name, value in row._mapping.items() if name not in audit.PLACE_IN_CHAIN}
        return TransitionResult(
            won=True, request=CancellationRequest.model_construct(**fields), event=event.appended(row)
        )
    # SQLite has no data-modifying WITH: the update, then the event, in the caller's transaction. The winner gets the
    # row as its update left it (RETURNING); a loser reads the row as the winner left it.
    changed = load(CancellationRequest, db.execute(statement, params))
    if not changed:
        return TransitionResult(won=False, request=get(db, request_id))
    return TransitionResult(
        won=True, request=changed[0], event=event.appended(db.execute(audit.APPEND, event.params).one())
    )


@functools.cache
def _with_event(moving: Update) -> Select[Any]:
    """A transition's update and its audit event as one statement (PostgreSQL's data-modifying WITH): the event is
    appended only when the update took place, and the statement returns the changed row with the event's place in
    the chain. Built once per shape of update, like the update itself."""
    # No change without its event: a chain without its tip row (never so after the migrations) changes nothing.
    moved = moving.where(audit.CHAIN_HAS_TIP).cte("moved")
    appended = audit.append_statement(exists(select(moved.c.id))).cte("appended")
    place = (appended.c[name] for name in audit.PLACE_IN_CHAIN)
    return select(moved, *place).select_from(moved.outerjoin(appended, true()))


# The card, thread and DM bookkeeping: not status changes, and none of them decides a race about a cancel.


def _events_past(sequence: Any) -> tuple[ColumnElement[bool], ...]:
    """The conditions on the row's request's events after `sequence`, inside a statement on the row."""
    return _events.c.request_id == _c.id, _events.c.sequence > sequence


_ID = _c.id == bindparam("request_id")
_SET_CARD = (
    update(_requests)
    .where(_ID)
    .values(
        channel=bindparam("channel"),
        card_ts=bindparam("card_ts"),
        thread_lock_at=bindparam("now", type_=_c.thread_lock_at.type),
        thread_lock_owner=bindparam("owner"),
    )
)
_MARK_DIRTY = update(_requests).where(_ID).values(card_dirty=True)
_MARK_CLEAN = update(_requests).where(_ID, _c.status == bindparam("shown_status")).values(card_dirty=False)
_THREAD_POSTED = (
    update(_requests)
    .where(_ID)
    .values(thread_sequence=bindparam("upto"), thread_lock_at=bindparam("now", type_=_c.thread_lock_at.type))
)
_THREAD_RELEASED = update(_requests).where(_ID).values(thread_sequence=bindparam("upto"), thread_lock_at=None)
_LOCK_THREAD = (
    update(_requests)
    .where(
        _ID,
        or_(
            _c.thread_lock_at.is_(None),
            _c.thread_lock_at < bindparam("stale_before"),
            _c.thread_lock_owner.not_in(processes.alive_since(bindparam("dead_before", type_=_c.thread_lock_at.type))),
        ),
    )
    .values(thread_lock_at=bindparam("now"), thread_lock_owner=bindparam("owner"))
    .returning(
        _c.thread_sequence,
        select(func.min(_events.c.sequence))
        .where(*_events_past(_c.thread_sequence))
        .scalar_subquery()
        .label("first_unshown"),
    )
)
# Record the last event shown; keep (and renew) the lease only while events past it wait, decided in the same
# statement, so an event committed by another worker is never left unposted.
_THREAD_SHOWN = (
    update(_requests)
    .where(_ID)
    .values(
        thread_sequence=bindparam("upto"),
        thread_lock_at=case(
            (
                exists().where(*_events_past(bindparam("upto"))),
                bindparam("now", type_=_c.thread_lock_at.type),
            ),
            else_=None,
        ),
    )
    .returning(_c.thread_lock_at)
)
_LAST_EVENT = select(func.max(_events.c.sequence)).where(_events.c.request_id == bindparam("request_id"))
# Decided on the row as it is now, not as the caller last read it: a caller holding an older copy still claims
# the current status, and nobody claims one already told.
_CLAIM_NOTIFICATION = (
    update(_requests)
    .where(_ID, _c.status == bindparam("told"), _c.notified_status != bindparam("told"))
    .values(notified_status=bindparam("told"))
)
# 'pending', the column's default, is what a requester who was told nothing yet has.
_RELEASE_NOTIFICATION = (
    update(_requests).where(_ID, _c.notified_status == bindparam("told")).values(notified_status=S.PENDING.value)
)
_roles = table(RoleAssignment)
# No rows when the user has no role; otherwise each row also says whether the delivery was seen, how many
# requests the user made since a moment, and whether an open request covers the subscription asked for.
_STANDING = select(
    _roles.c.role,
    exists().where(_c.command_key == bindparam("command_key")).label("seen"),
    select(func.count())
    .where(_c.requester == bindparam("user_id"), _c.created_at >= bindparam("since"))
    .scalar_subquery()
    .label("made"),
    exists()
    .where(_c.provider == bindparam("provider"), _c.subscription_id == bindparam("subscription_id"), _OPEN)
    .label("covered"),
).where(_roles.c.user_id == bindparam("user_id"))


# One row per role the user holds (one with no role when they hold none), each carrying the whole request.
_WITH_ROLES_OF = (
    select(_requests, _roles.c.role.label("user_role"))
    .outerjoin(_roles, _roles.c.user_id == bindparam("user_id"))
    .where(_c.id == bindparam("id"))
)


def find_with_roles(db: Connection, request_id: str, *, user_id: str) -> tuple[CancellationRequest | None, set[Role]]:
    """The request as stored now and the user's roles, in one statement (a click's checks); no roles are read
    when there is no such request."""
    rows = db.execute(_WITH_ROLES_OF, {"id": request_id.upper(), "user_id": user_id}).all()
    if not rows:
        return None, set()
    fields = {key: value for key, value in rows[0]._mapping.items() if key != "user_role"}
    roles = {Role(row.user_role) for row in rows if row.user_role is not None}
    return CancellationRequest.model_construct(**fields), roles


@dataclass(frozen=True)
class Standing:
    """What a new request is checked against, read in one statement."""

    roles: set[Role]
    seen: bool  # a request was already made from this command delivery
    made: int  # the requests the user made since the moment asked about
    covered: bool = False  # an open request may already cancel the subscription asked for (see open_for)


def standing(
    db: Connection, *, user_id: str, command_key: str, since: datetime, subscription: tuple[str, str] | None = None
) -> Standing:
    """The user's roles and, when they hold one, whether a request was already made from this command delivery,
    how many they made since `since`, and whether an open request covers `subscription` (provider, id): the checks
    before a new request."""
    provider, subscription_id = subscription or ("", "")
    params = {"user_id": user_id, "command_key": command_key, "since": since}
    rows = db.execute(_STANDING, {**params, "provider": provider, "subscription_id": subscription_id}).all()
    return Standing(
        {Role(row.role) for row in rows},
        any(row.seen for row in rows),
        rows[0].made if rows else 0,
        any(row.covered for row in rows),
    )


def set_card(db: Connection, request_id: str, *, channel: str, card_ts: str, owner: str, now: datetime) -> None:
    """Record where the request's card lives, and give its thread to `owner` (see lock_thread): nobody can post
    to a thread before its card is recorded, so the poster of the card takes it without asking. Not a status
    change."""
    params = {"request_id": request_id, "channel": channel, "card_ts": card_ts, "owner": owner, "now": now}
    db.execute(_SET_CARD, params)


def mark_card_dirty(db: Connection, request_id: str) -> None:
    db.execute(_MARK_DIRTY, {"request_id": request_id})


def mark_card_clean(db: Connection, request_id: str, *, shown_status: str) -> None:
    """Clear the flag only if the card shows the current status (a newer change keeps it dirty)."""
    db.execute(_MARK_CLEAN, {"request_id": request_id, "shown_status": shown_status})


def lock_thread(
    db: Connection, request_id: str, *, owner: str, now: datetime, stale_before: datetime, dead_before: datetime
) -> tuple[int, int | None] | None:
    """Become the one worker posting to this request's thread, taking over a lease that is older than
    `stale_before` or whose process was last heard from before `dead_before`: the last event the thread shows and
    the first it does not (None when it shows them all); None when another worker holds it."""
    params = {"request_id": request_id, "owner": owner, "now": now, "stale_before": stale_before}
    row = db.execute(_LOCK_THREAD, {**params, "dead_before": dead_before}).one_or_none()
    return None if row is None else (int(row.thread_sequence), row.first_unshown)


def last_event_sequence(db: Connection, request_id: str) -> int:
    return int(db.execute(_LAST_EVENT, {"request_id": request_id}).scalar() or 0)


def thread_shown(db: Connection, request_id: str, *, upto: int, now: datetime) -> bool:
    """Record the last event shown in the thread; whether events past it wait (the lease is then kept, renewed),
    or not (the lease is given back)."""
    return db.execute(_THREAD_SHOWN, {"request_id": request_id, "upto": upto, "now": now}).scalar() is not None


def thread_posted(db: Connection, request_id: str, *, upto: int, now: datetime | None = None) -> None:
    """Record the last event shown in the thread: give the lease back, or with `now`, keep it (renewed)."""
    if now is None:
        db.execute(_THREAD_RELEASED, {"request_id": request_id, "upto": upto})
    else:
        db.execute(_THREAD_POSTED, {"request_id": request_id, "upto": upto, "now": now})


def claim_notification(db: Connection, request_id: str, *, status: str) -> bool:
    """Take the right to tell the requester that the request is now `status`: only while it still is, and only
    one caller ever gets it."""
    return db.execute(_CLAIM_NOTIFICATION, {"request_id": request_id, "told": status}).rowcount == 1


def release_notification(db: Connection, request_id: str, *, status: str) -> None:
    """Undo a claim whose DM could not be sent: the requester counts as not told, and a later sync tries again."""
    db.execute(_RELEASE_NOTIFICATION, {"request_id": request_id, "told": status})


def needing_slack_catch_up(
    db: Connection, *, told: Iterable[RequestStatus], now: datetime, limit: int = 100
) -> list[CancellationRequest]:
    """Requests whose card is stale, whose thread lacks events, or whose requester was not yet told of a status
    in `told` (after Slack failed to answer), oldest first; not those Slack gave up on, nor those backing off."""
    latest = select(func.max(_events.c.sequence)).where(_events.c.request_id == _c.id).scalar_subquery()
    query = (
        select(_requests)
        .where(_c.card_ts.is_not(None), _c.slack_gave_up.is_(None))
        .where(or_(_c.slack_retry_at.is_(None), _c.slack_retry_at <= now))
        .where(
            or_(
                _c.card_dirty.is_(True),
                latest > _c.thread_sequence,
                and_(_c.status.in_([status.value for status in told]), _c.notified_status != _c.status),
            )
        )
        .order_by(_c.created_at)
        .limit(limit)
    )
    return load(CancellationRequest, db.execute(query))


_SLACK_FAILED = (
    update(_requests)
    .where(_ID)
    .values(slack_failures=_c.slack_failures + 1, slack_retry_at=bindparam("retry_at", type_=_c.slack_retry_at.type))
)
_SLACK_RECOVERED = update(_requests).where(_ID, _c.slack_failures > 0).values(slack_failures=0, slack_retry_at=None)
_SLACK_GAVE_UP = update(_requests).where(_ID, _c.slack_gave_up.is_(None)).values(slack_gave_up=bindparam("error"))


def slack_failed(db: Connection, request_id: str, *, retry_at: datetime) -> None:
    """Slack failed for a while (5xx, 429, a timeout): the catch-up leaves this request alone until `retry_at`."""
    db.execute(_SLACK_FAILED, {"request_id": request_id, "retry_at": retry_at})


def slack_recovered(db: Connection, request_id: str) -> None:
    db.execute(_SLACK_RECOVERED, {"request_id": request_id})


def slack_gave_up(db: Connection, request_id: str, *, error: str) -> bool:
    """Slack refused for good (the message or channel is gone, the blocks are invalid): no more catch-up. True
    only for the caller that recorded it."""
    return db.execute(_SLACK_GAVE_UP, {"request_id": request_id, "error": error[:64]}).rowcount == 1


def orphaned(
    db: Connection, *, dead_before: datetime, started_before: datetime, limit: int = 100
) -> list[CancellationRequest]:
    """Requests `executing` that nobody waits on: their process has not been heard from since `dead_before` (or is
    gone), or their attempt started before `started_before`, longer ago than any live process waits on a call (a
    settle that failed leaves such a request behind). A request from before processes were recorded has no owner:
    its attempt's start stands in for a heartbeat."""
    ownerless = and_(_c.lease_owner.is_(None), or_(_c.started_at.is_(None), _c.started_at < dead_before))
    dead = and_(_c.lease_owner.is_not(None), _c.lease_owner.not_in(processes.alive_since(dead_before)))
    overdue = _c.started_at < started_before
    query = select(_requests).where(_c.status == S.EXECUTING.value, or_(ownerless, dead, overdue)).limit(limit)
    return load(CancellationRequest, db.execute(query))


def expired_pending(db: Connection, now: datetime, *, limit: int = 500) -> list[CancellationRequest]:
    query = select(_requests).where(_c.status == S.PENDING.value, _c.expires_at <= now).limit(limit)
    return load(CancellationRequest, db.execute(query))


FOLLOW_UPS = {"request.reminded": "reminded_at", "request.escalated": "escalated_at"}


def claim_follow_ups(
    db: Connection,
    *,
    action: str,
    waiting_since: datetime,
    now: datetime,
    detail: Callable[[CancellationRequest], dict[str, Any]],
    limit: int = 100,
) -> list[CancellationRequest]:
    """Mark pending requests made before `waiting_since` as reminded (or escalated), each with its audit event.
    One conditional UPDATE claims them, so with any number of replicas each request is followed up once."""
    column = _c[FOLLOW_UPS[action]]
    waiting = and_(_c.status == S.PENDING.value, column.is_(None), _c.created_at <= waiting_since)
    due = select(_c.id).where(waiting).order_by(_c.created_at).limit(limit)
    claimed = load(
        CancellationRequest,
        db.execute(update(_requests).where(_c.id.in_(due), waiting).values({column: now}).returning(*_requests.c)),
    )
    for request in claimed:
        audit.append(db, actor="system", action=action, request_id=request.id, detail=detail(request))
    return claimed


def recent_by_requester(db: Connection, requester: str, *, limit: int = 10) -> list[CancellationRequest]:
    query = select(_requests).where(_c.requester == requester).order_by(_c.created_at.desc()).limit(limit)
    return load(CancellationRequest, db.execute(query))


def pending_for(
    db: Connection, *, limit: int = 20, excluding_requester: str | None = None
) -> list[CancellationRequest]:
    """The oldest pending requests (those of `excluding_requester` left out: nobody decides their own)."""
    query = select(_requests).where(_c.status == S.PENDING.value)
    if excluding_requester is not None:
        query = query.where(_c.requester != excluding_requester)
    return load(CancellationRequest, db.execute(query.order_by(_c.created_at).limit(limit)))


def count_pending(db: Connection, *, excluding_requester: str | None = None) -> int:
    query = select(func.count()).where(_c.status == S.PENDING.value)
    if excluding_requester is not None:
        query = query.where(_c.requester != excluding_requester)
    return int(db.execute(query).scalar_one())
