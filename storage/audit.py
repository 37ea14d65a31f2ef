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

from sqlmodel import Session, col, select

from storage import plain
from storage.models import AuditCheck, AuditEvent, AuditHead, CancellationRequest
from storage.plain import Plain, Statement

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


# Every decision appends and every card update reads a request's events: plain statements (see storage.plain).
_READ_HEAD = "SELECT sequence, hash FROM audit_head WHERE id = :id"
# SQLite has no row locks (and needs none: it has one writer at a time); elsewhere the tip row is the lock.
_HEAD = Statement(_READ_HEAD)
_LOCK_HEAD = Statement(_READ_HEAD + " FOR UPDATE")
_MOVE_HEAD = Statement("UPDATE audit_head SET sequence = :sequence, hash = :hash WHERE id = :id")
_INSERT_EVENT = Statement(
    """INSERT INTO audit_events (sequence, time, request_id, actor, action, detail, previous_hash, hash)
    VALUES (:sequence, :time, :request_id, :actor, :action, :detail, :previous_hash, :hash)"""
)
_EVENTS_OF_REQUEST = Statement(
    f"""SELECT {plain.columns(AuditEvent)} FROM audit_events
    WHERE request_id = :request_id AND sequence > :after ORDER BY sequence"""
)
_COUNT_ACTIONS = Statement(
    "SELECT count(*) FROM audit_events WHERE actor = :actor AND action = :action AND time >= :since"
)


def append(
    db: Session | Plain,
    *,
    actor: str,
    action: str,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction, so it commits with the change it records."""
    if isinstance(db, Session):
        db.flush()  # rows the caller added (the request this event names) go first
    cursor = plain.on(db)
    # The tip row is created by the first migration; locking it serializes appenders in every process.
    tip = cursor.one(_HEAD if cursor.dialect_name == "sqlite" else _LOCK_HEAD, {"id": HEAD_ID})
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
    cursor.run(_INSERT_EVENT, row)
    cursor.run(_MOVE_HEAD, {"id": HEAD_ID, "sequence": row["sequence"], "hash": row["hash"]})
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


def verify(session: Session, *, batch_size: int = 5000) -> VerifyReport:
    """Walk the chain in order; name the first event whose sequence, link or hash does not match."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for event in _iter_events(session, batch_size=batch_size):
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
    head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.sequence != count or head.hash != expected_previous):
        return VerifyReport(
            False,
            count,
            count + 1 if head.sequence > count else head.sequence,
            f"the chain ends at event {count} but the recorded tip is event {head.sequence} (events deleted)",
        )
    return VerifyReport(True, count)


def _iter_events(session: Session, *, batch_size: int, since: datetime | None = None) -> Iterator[Any]:
    """Keyset pagination over plain rows (attribute access like AuditEvent, without building ORM objects):
    constant memory over any number of events."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    last = 0
    while True:
        query = table.select().where(table.c.sequence > last)
        if since is not None:
            query = query.where(table.c.time >= since)
        batch = session.execute(query.order_by(table.c.sequence).limit(batch_size)).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence


def events_for_request(db: Session | Plain, request_id: str, *, after: int = 0) -> list[AuditEvent]:
    """The request's events in order; only those past sequence `after` when given. Every card update reads
    these, so a plain statement."""
    return plain.on(db).load(AuditEvent, _EVENTS_OF_REQUEST, {"request_id": request_id, "after": after})


def events_for_subscription(
    session: Session, subscription_id: str, *, since: datetime | None = None, limit: int = 200
) -> list[AuditEvent]:
    """Every event of every request made for this subscription id (any provider)."""
    request_ids = select(CancellationRequest.id).where(CancellationRequest.subscription_id == subscription_id)
    query = select(AuditEvent).where(col(AuditEvent.request_id).in_(request_ids))
    if since is not None:
        query = query.where(AuditEvent.time >= since)
    return list(session.exec(query.order_by(col(AuditEvent.sequence)).limit(limit)).all())


def events_by_actor(
    session: Session, actor: str, *, since: datetime | None = None, limit: int = 200
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.actor == actor)
    if since is not None:
        query = query.where(AuditEvent.time >= since)
    return list(session.exec(query.order_by(col(AuditEvent.sequence).desc()).limit(limit)).all())[::-1]


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


def export(session: Session, out: TextIO, *, fmt: str, since: datetime | None = None, batch_size: int = 5000) -> int:
    """Write events as CSV or JSON lines; returns how many were written."""
    rows = (export_row(e) for e in _iter_events(session, batch_size=batch_size, since=since))
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


def export_csv_text(session: Session, *, since: datetime | None = None) -> str:
    buffer = io.StringIO()
    export(session, buffer, fmt="csv", since=since)
    return buffer.getvalue()


def count_actions(db: Session | Plain, *, actor: str, action: str, since: datetime) -> int:
    """How many `action` events `actor` made since `since` (a velocity limit asks this before each decision)."""
    return int(plain.on(db).scalar(_COUNT_ACTIONS, {"actor": actor, "action": action, "since": since}))


def record_check(session: Session, report: VerifyReport) -> None:
    session.add(AuditCheck(checked_at=utcnow(), ok=report.ok, events=report.events, description=report.describe()))


def latest_check(session: Session) -> AuditCheck | None:
    return session.exec(select(AuditCheck).order_by(col(AuditCheck.id).desc()).limit(1)).one_or_none()
