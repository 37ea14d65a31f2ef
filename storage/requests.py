"""Cancellation requests and their state machine: every status change is one conditional UPDATE.

    pending --approve--> executing --> cancelled | already_cancelled | failed | unknown
    pending --> rejected | withdrawn | expired
    failed (retry safe) --retry--> executing
    unknown --verify--> cancelled | already_cancelled | failed
    executing --recover--> cancelled | already_cancelled | unknown   (after a crash)

The UPDATE's row count says who won; the audit event is written in the same transaction, so a change and
its record commit together or not at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from storage import audit, plain
from storage.errors import IllegalTransition, RequestNotFound
from storage.models import AuditEvent, CancellationRequest, RequestStatus, Role
from storage.plain import Plain, Statement

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


_requests: Any = CancellationRequest.__table__  # type: ignore[attr-defined]
_COLUMNS = frozenset(column.name for column in _requests.columns)
_BY_ID = Statement(f"SELECT {plain.columns(CancellationRequest)} FROM cancellation_requests WHERE id = :id")
_BY_COMMAND_KEY = Statement(
    f"SELECT {plain.columns(CancellationRequest)} FROM cancellation_requests WHERE command_key = :command_key"
)
_COUNT_SINCE = Statement(
    "SELECT count(*) FROM cancellation_requests WHERE requester = :requester AND created_at >= :since"
)
_INSERT = Statement(
    f"""INSERT INTO cancellation_requests ({plain.columns(CancellationRequest)})
    VALUES ({", ".join(f":{column.name}" for column in _requests.columns)})"""
)
_OPERATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class Where:
    """One more condition a transition's row must meet, such as `Where("expires_at", ">", now)`."""

    column: str
    operator: str
    value: Any

    def __post_init__(self) -> None:
        if self.column not in _COLUMNS or self.operator not in _OPERATORS:
            raise ValueError(f"not a condition on a request: {self.column} {self.operator}")


@dataclass(frozen=True)
class TransitionResult:
    won: bool
    request: CancellationRequest
    event: AuditEvent | None = None  # the winner's audit event


def create(
    db: Session | Plain,
    *,
    provider: str,
    subscription_id: str,
    reason: str,
    requester: str,
    channel: str,
    snapshot: str,
    expires_at: datetime,
    command_key: str | None = None,
    audit_detail: dict[str, Any] | None = None,
) -> CancellationRequest:
    now = audit.utcnow()
    request = CancellationRequest(
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
    )
    if isinstance(db, Session):
        db.flush()
    cursor = plain.on(db)
    cursor.run(_INSERT, request.model_dump())
    audit.append(
        cursor,
        actor=requester,
        action="request.created",
        request_id=request.id,
        detail={
            "provider": provider,
            "subscription_id": subscription_id,
            "reason": reason,
            "channel": channel,
            "expires_at": audit.format_time(expires_at),
            **(audit_detail or {}),
        },
    )
    return request


def get(db: Session | Plain, request_id: str) -> CancellationRequest:
    request = find(db, request_id)
    if request is None:
        raise RequestNotFound(f"no request {request_id}")
    return request


def find(db: Session | Plain, request_id: str) -> CancellationRequest | None:
    """The request as stored now, detached from any session (every click reads it: a plain statement)."""
    found = plain.on(db).load(CancellationRequest, _BY_ID, {"id": request_id.upper()})
    return found[0] if found else None


def by_command_key(db: Session | Plain, command_key: str) -> CancellationRequest | None:
    found = plain.on(db).load(CancellationRequest, _BY_COMMAND_KEY, {"command_key": command_key})
    return found[0] if found else None


def transition(
    db: Session | Plain,
    request_id: str,
    *,
    expected: RequestStatus,
    target: RequestStatus,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
    only_if: Sequence[Where] = (),
    **values: Any,
) -> TransitionResult:
    """Move a request from `expected` to `target` if, and only if, it is still in `expected` (and `only_if` holds).

    The caller that gets `won=True` is the one and only winner, whatever other threads or processes did.
    """
    check_transition(expected, target)
    unknown = set(values) - _COLUMNS
    if unknown:
        raise ValueError(f"requests have no column {', '.join(sorted(unknown))}")
    if isinstance(db, Session):
        db.flush()
    cursor = plain.on(db)
    params: dict[str, Any] = {"id": request_id, "expected": expected.value, "status": target.value}
    params.update({f"set_{name}": value for name, value in values.items()})
    params.update({f"if_{i}": condition.value for i, condition in enumerate(only_if)})
    # The few shapes (which columns, which conditions) come from the workflow's code, never from input.
    assignments = ", ".join(["status = :status", *(f"{name} = :set_{name}" for name in values)])
    conditions = " AND ".join(
        ["id = :id", "status = :expected", *(f"{c.column} {c.operator} :if_{i}" for i, c in enumerate(only_if))]
    )
    update = plain.statement(f"UPDATE cancellation_requests SET {assignments} WHERE {conditions}")
    won = cursor.run(update, params) == 1
    event = None
    if won:
        event = audit.append(
            cursor,
            actor=actor,
            action=action,
            request_id=request_id,
            detail={"from": expected.value, "to": target.value, **(detail or {})},
        )
    if isinstance(db, Session):
        db.expire_all()  # objects the caller's session holds are older than this change
    return TransitionResult(won=won, request=get(cursor, request_id), event=event)


# The card, thread and DM bookkeeping runs several times per click: plain statements (see storage.plain).
_SET_CARD = Statement("UPDATE cancellation_requests SET channel = :channel, card_ts = :card_ts WHERE id = :id")
_MARK_DIRTY = Statement("UPDATE cancellation_requests SET card_dirty = :dirty WHERE id = :id")
_MARK_CLEAN = Statement(
    "UPDATE cancellation_requests SET card_dirty = :dirty WHERE id = :id AND status = :shown_status"
)
_LOCK_THREAD = Statement(
    """UPDATE cancellation_requests SET thread_lock_at = :now
    WHERE id = :id AND (thread_lock_at IS NULL OR thread_lock_at < :stale_before)"""
)
_THREAD_SEQUENCE = Statement("SELECT thread_sequence FROM cancellation_requests WHERE id = :id")
_LAST_EVENT = Statement("SELECT max(sequence) FROM audit_events WHERE request_id = :id")
_THREAD_POSTED = Statement("UPDATE cancellation_requests SET thread_sequence = :upto WHERE id = :id")
_THREAD_RELEASED = Statement(
    "UPDATE cancellation_requests SET thread_sequence = :upto, thread_lock_at = NULL WHERE id = :id"
)
# Decided on the row as it is now, not as the caller last read it: a caller holding an older copy still claims
# the current status, and nobody claims one already told.
_CLAIM_NOTIFICATION = Statement(
    """UPDATE cancellation_requests SET notified_status = :status
    WHERE id = :id AND status = :status AND notified_status <> :status"""
)
# 'pending', the column's default, is what a requester who was told nothing yet has.
_RELEASE_NOTIFICATION = Statement(
    "UPDATE cancellation_requests SET notified_status = 'pending' WHERE id = :id AND notified_status = :status"
)
# No rows when the user has no role; otherwise each row also says whether the delivery was seen.
_STANDING = Statement(
    """SELECT role, EXISTS (SELECT 1 FROM cancellation_requests WHERE command_key = :command_key)
    FROM role_assignments WHERE user_id = :user_id"""
)


def standing(db: Session | Plain, *, user_id: str, command_key: str) -> tuple[set[Role], bool]:
    """The user's roles, and whether a request was already made from this command delivery (only known when
    the user has a role): the checks before a new request, in one statement."""
    rows = plain.on(db).all(_STANDING, {"user_id": user_id, "command_key": command_key})
    return {Role(role) for role, _ in rows}, any(bool(seen) for _, seen in rows)


def set_card(db: Session | Plain, request_id: str, *, channel: str, card_ts: str) -> None:
    """Record where the request's card lives; not a status change."""
    plain.on(db).run(_SET_CARD, {"id": request_id, "channel": channel, "card_ts": card_ts})


def mark_card_dirty(db: Session | Plain, request_id: str) -> None:
    plain.on(db).run(_MARK_DIRTY, {"id": request_id, "dirty": True})


def mark_card_clean(db: Session | Plain, request_id: str, *, shown_status: str) -> None:
    """Clear the flag only if the card shows the current status (a newer change keeps it dirty)."""
    plain.on(db).run(_MARK_CLEAN, {"id": request_id, "dirty": False, "shown_status": shown_status})


def lock_thread(db: Session | Plain, request_id: str, *, now: datetime, stale_before: datetime) -> bool:
    """Become the one worker posting to this request's thread (or take over a lease left by a crash)."""
    return plain.on(db).run(_LOCK_THREAD, {"id": request_id, "now": now, "stale_before": stale_before}) == 1


def last_event_sequence(db: Session | Plain, request_id: str) -> int:
    return int(plain.on(db).scalar(_LAST_EVENT, {"id": request_id}) or 0)


def thread_sequence(db: Session | Plain, request_id: str) -> int:
    """The last audit event shown in the request's thread."""
    shown = plain.on(db).scalar(_THREAD_SEQUENCE, {"id": request_id})
    if shown is None:
        raise RequestNotFound(f"no request {request_id}")
    return int(shown)


def thread_posted(db: Session | Plain, request_id: str, *, upto: int, release: bool) -> None:
    """Record the last event shown in the thread, and give the lease back when done."""
    plain.on(db).run(_THREAD_RELEASED if release else _THREAD_POSTED, {"id": request_id, "upto": upto})


def claim_notification(db: Session | Plain, request_id: str, *, status: str) -> bool:
    """Take the right to tell the requester that the request is now `status`: only while it still is, and only
    one caller ever gets it."""
    return plain.on(db).run(_CLAIM_NOTIFICATION, {"id": request_id, "status": status}) == 1


def release_notification(db: Session | Plain, request_id: str, *, status: str) -> None:
    """Undo a claim whose DM could not be sent: the requester counts as not told, and a later sync tries again."""
    plain.on(db).run(_RELEASE_NOTIFICATION, {"id": request_id, "status": status})


def needing_slack_catch_up(
    session: Session, *, told: Iterable[RequestStatus], limit: int = 100
) -> list[CancellationRequest]:
    """Requests whose card is stale, whose thread lacks events, or whose requester was not yet told of a status
    in `told` (after Slack failed to answer)."""
    latest = (
        select(func.max(AuditEvent.sequence)).where(AuditEvent.request_id == CancellationRequest.id).scalar_subquery()
    )
    query = (
        select(CancellationRequest)
        .where(col(CancellationRequest.card_ts).is_not(None))
        .where(
            or_(
                col(CancellationRequest.card_dirty).is_(True),
                latest > CancellationRequest.thread_sequence,
                and_(
                    col(CancellationRequest.status).in_([status.value for status in told]),
                    col(CancellationRequest.notified_status) != CancellationRequest.status,
                ),
            )
        )
        .limit(limit)
    )
    return list(session.exec(query).all())


def renew_leases(session: Session, request_ids: list[str], now: datetime) -> int:
    """A live process says it is still waiting on these cancels, so recovery leaves them alone."""
    if not request_ids:
        return 0
    statement = (
        update(CancellationRequest)
        .where(col(CancellationRequest.id).in_(request_ids), col(CancellationRequest.status) == S.EXECUTING.value)
        .values(started_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def stale_executing(session: Session, before: datetime, *, limit: int = 100) -> list[CancellationRequest]:
    """Requests `executing` whose lease (started_at, renewed while a process waits on them) lapsed before `before`."""
    query = (
        select(CancellationRequest)
        .where(CancellationRequest.status == S.EXECUTING.value)
        .where(or_(col(CancellationRequest.started_at).is_(None), col(CancellationRequest.started_at) < before))
        .limit(limit)
    )
    return list(session.exec(query).all())


def expired_pending(session: Session, now: datetime, *, limit: int = 500) -> list[CancellationRequest]:
    query = (
        select(CancellationRequest)
        .where(CancellationRequest.status == S.PENDING.value, col(CancellationRequest.expires_at) <= now)
        .limit(limit)
    )
    return list(session.exec(query).all())


def recent_by_requester(session: Session, requester: str, *, limit: int = 10) -> list[CancellationRequest]:
    query = (
        select(CancellationRequest)
        .where(CancellationRequest.requester == requester)
        .order_by(col(CancellationRequest.created_at).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def count_since(db: Session | Plain, *, requester: str, since: datetime) -> int:
    """How many requests `requester` made since `since` (the velocity limit asks before each request)."""
    return int(plain.on(db).scalar(_COUNT_SINCE, {"requester": requester, "since": since}))


def pending_for(session: Session, *, limit: int = 20) -> list[CancellationRequest]:
    query = (
        select(CancellationRequest)
        .where(CancellationRequest.status == S.PENDING.value)
        .order_by(col(CancellationRequest.created_at))
        .limit(limit)
    )
    return list(session.exec(query).all())
