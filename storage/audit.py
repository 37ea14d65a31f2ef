"""The append-only, hash-chained audit log: append, verify, query and export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Connection, bindparam, func, insert, select, update

from storage.database import load, table
from storage.models import AuditCheck, AuditEvent, AuditHead, CancellationRequest

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def utcnow() -> datetime:
    """Aware UTC with microseconds: what both SQLite and PostgreSQL store and give back unchanged."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(
    *,
    previous_hash: str,
    sequence: int,
    time: datetime,
    request_id: str | None,
    actor: str,
    action: str,
    detail: str,
) -> str:
    """sha256(previous hash + canonical JSON of the event): every field a reader sees is covered."""
    body = canonical_json(
        {
            "sequence": sequence,
            "time": format_time(time),
            "request_id": request_id,
            "actor": actor,
            "action": action,
            "detail": json.loads(detail),
        }
    )
    return hashlib.sha256((previous_hash + body).encode("utf-8")).hexdigest()


_events = table(AuditEvent)
_head = table(AuditHead)
_checks = table(AuditCheck)
_requests = table(CancellationRequest)

_READ_HEAD = select(_head.c.sequence, _head.c.hash).where(_head.c.id == HEAD_ID)
# SQLite has no row locks (and needs none: it has one writer at a time); elsewhere the tip row is the lock.
_LOCK_HEAD = _READ_HEAD.with_for_update()
_MOVE_HEAD = update(_head).where(_head.c.id == HEAD_ID)
_INSERT_EVENT = insert(_events)
_EVENTS_OF_REQUEST = (
    select(_events)
    .where(_events.c.request_id == bindparam("request_id"), _events.c.sequence > bindparam("after"))
    .order_by(_events.c.sequence)
)
_COUNT_ACTIONS = select(func.count()).where(
    _events.c.actor == bindparam("actor"), _events.c.action == bindparam("action"), _events.c.time >= bindparam("since")
)


def append(
    db: Connection,
    *,
    actor: str,
    action: str,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction, so it commits with the change it records."""
    # The tip row is created by the first migration; locking it serializes appenders in every process.
    tip = db.execute(_READ_HEAD if db.dialect.name == "sqlite" else _LOCK_HEAD).one_or_none()
    assert tip is not None, "the audit head row is missing: run the migrations"
    tip_sequence, tip_hash = tip
    detail_text = canonical_json(detail or {})
    row = {
        "sequence": tip_sequence + 1,
        "time": utcnow(),
        "request_id": request_id,
        "actor": actor,
        "action": action,
        "detail": detail_text,
        "previous_hash": tip_hash,
    }
    row["hash"] = event_hash(
        previous_hash=tip_hash,
        sequence=row["sequence"],
        time=row["time"],
        request_id=request_id,
        actor=actor,
        action=action,
        detail=detail_text,
    )
    db.execute(_INSERT_EVENT, row)
    db.execute(_MOVE_HEAD, {"sequence": row["sequence"], "hash": row["hash"]})
    return AuditEvent(**row)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    first_bad_sequence: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.events} events"
        return f"audit chain broken at event {self.first_bad_sequence}: {self.problem}"


def verify(db: Connection, *, batch_size: int = 5000) -> VerifyReport:
    """Walk the chain in order; name the first event whose sequence, link or hash does not match."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for event in _iter_events(db, batch_size=batch_size):
        if event.sequence != expected_sequence:
            return VerifyReport(
                False,
                count,
                expected_sequence,
                f"event {expected_sequence} is missing (found {event.sequence})",
            )
        if event.previous_hash != expected_previous:
            return VerifyReport(False, count, event.sequence, "its previous hash does not match the event before")
        try:
            actual = event_hash(
                previous_hash=event.previous_hash,
                sequence=event.sequence,
                time=event.time,
                request_id=event.request_id,
                actor=event.actor,
                action=event.action,
                detail=event.detail,
            )
        except ValueError:
            return VerifyReport(False, count, event.sequence, "its detail is not valid JSON (edited)")
        if actual != event.hash:
            return VerifyReport(False, count, event.sequence, "its content does not match its hash (edited)")
        expected_previous = event.hash
        expected_sequence += 1
        count += 1
    head = db.execute(_READ_HEAD).one_or_none()
    if head is not None and (head.sequence != count or head.hash != expected_previous):
        return VerifyReport(
            False,
            count,
            count + 1 if head.sequence > count else head.sequence,
            f"the chain ends at event {count} but the recorded tip is event {head.sequence} (events deleted)",
        )
    return VerifyReport(True, count)


def _iter_events(db: Connection, *, batch_size: int, since: datetime | None = None) -> Iterator[Any]:
    """Keyset pagination over rows (attribute access like AuditEvent, without building model objects):
    constant memory over any number of events."""
    last = 0
    while True:
        query = _events.select().where(_events.c.sequence > last)
        if since is not None:
            query = query.where(_events.c.time >= since)
        batch = db.execute(query.order_by(_events.c.sequence).limit(batch_size)).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence


def events_for_request(db: Connection, request_id: str, *, after: int = 0) -> list[AuditEvent]:
    """The request's events in order; only those past sequence `after` when given."""
    return load(AuditEvent, db.execute(_EVENTS_OF_REQUEST, {"request_id": request_id, "after": after}))


def events_for_subscription(
    db: Connection, subscription_id: str, *, since: datetime | None = None, limit: int = 200
) -> list[AuditEvent]:
    """Every event of every request made for this subscription id (any provider)."""
    request_ids = select(_requests.c.id).where(_requests.c.subscription_id == subscription_id)
    query = select(_events).where(_events.c.request_id.in_(request_ids))
    if since is not None:
        query = query.where(_events.c.time >= since)
    return load(AuditEvent, db.execute(query.order_by(_events.c.sequence).limit(limit)))


def count_for_subscription(db: Connection, subscription_id: str, *, since: datetime | None = None) -> int:
    request_ids = select(_requests.c.id).where(_requests.c.subscription_id == subscription_id)
    query = select(func.count()).where(_events.c.request_id.in_(request_ids))
    if since is not None:
        query = query.where(_events.c.time >= since)
    return int(db.execute(query).scalar_one())


def count_by_actor(db: Connection, actor: str, *, since: datetime | None = None) -> int:
    query = select(func.count()).where(_events.c.actor == actor)
    if since is not None:
        query = query.where(_events.c.time >= since)
    return int(db.execute(query).scalar_one())


def events_by_actor(db: Connection, actor: str, *, since: datetime | None = None, limit: int = 200) -> list[AuditEvent]:
    query = select(_events).where(_events.c.actor == actor)
    if since is not None:
        query = query.where(_events.c.time >= since)
    return load(AuditEvent, db.execute(query.order_by(_events.c.sequence.desc()).limit(limit)))[::-1]


EXPORT_FIELDS = ("sequence", "time", "request_id", "actor", "action", "detail", "previous_hash", "hash")


def export_row(event: Any) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "time": format_time(event.time),
        "request_id": event.request_id or "",
        "actor": event.actor,
        "action": event.action,
        "detail": event.detail,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }


def export(db: Connection, out: TextIO, *, fmt: str, since: datetime | None = None, batch_size: int = 5000) -> int:
    """Write events as CSV or JSON lines; returns how many were written."""
    rows = (export_row(e) for e in _iter_events(db, batch_size=batch_size, since=since))
    if fmt == "csv":
        return _write_csv(out, rows)
    if fmt == "jsonl":
        count = 0
        for row in rows:
            row = {**row, "detail": json.loads(row["detail"]), "request_id": row["request_id"] or None}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    raise ValueError(f"unknown export format {fmt!r} (csv or jsonl)")


def _write_csv(out: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def export_csv_text(db: Connection, *, since: datetime | None = None) -> str:
    buffer = io.StringIO()
    export(db, buffer, fmt="csv", since=since)
    return buffer.getvalue()


def count_actions(db: Connection, *, actor: str, action: str, since: datetime) -> int:
    """How many `action` events `actor` made since `since` (a velocity limit asks this before each decision)."""
    return int(db.execute(_COUNT_ACTIONS, {"actor": actor, "action": action, "since": since}).scalar_one())


def record_check(db: Connection, report: VerifyReport) -> None:
    db.execute(
        insert(_checks).values(checked_at=utcnow(), ok=report.ok, events=report.events, description=report.describe())
    )


def latest_check(db: Connection) -> AuditCheck | None:
    found = load(AuditCheck, db.execute(select(_checks).order_by(_checks.c.id.desc()).limit(1)))
    return found[0] if found else None
