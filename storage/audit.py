"""The append-only, hash-chained audit log: append, query and export (storage.chain proves it whole)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, String, bindparam, cast, exists, func, insert, select
from sqlalchemy.sql.dml import ReturningInsert

from storage import chain
from storage.database import load, table
from storage.models import AuditEvent, AuditHead, CancellationRequest
from storage.sql_functions import database_sha256_hex


def utcnow() -> datetime:
    """Aware UTC with microseconds: what both SQLite and PostgreSQL store and give back unchanged."""
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_events = table(AuditEvent)
_head = table(AuditHead)
_requests = table(CancellationRequest)

# One statement appends: it takes the next sequence and the tip's hash from the tip row, locked until its
# transaction ends (PostgreSQL; SQLite has one writer at a time), and hashes the event there. A trigger then moves
# the tip row to the new event (migration 0008).
_next = _head.c.sequence + 1
CHAIN_HAS_TIP = exists().where(_head.c.id == chain.HEAD_ID)
# What the database decides of an appended event, given back by the append.
PLACE_IN_CHAIN = ("sequence", "previous_hash", "hash")


def append_statement(*conditions: ColumnElement[bool]) -> ReturningInsert[Any]:
    """The append, made only when `conditions` hold too (requests.transition: only when its update took place)."""
    return (
        insert(_events)
        .from_select(
            ["sequence", "time", "request_id", "actor", "action", "detail", "previous_hash", "hash"],
            select(
                _next.label("sequence"),
                bindparam("time", type_=_events.c.time.type),
                bindparam("request_id", type_=String()),
                bindparam("actor", type_=String()),
                bindparam("action", type_=String()),
                bindparam("detail", type_=String()),
                _head.c.hash,
                database_sha256_hex(
                    _head.c.hash + bindparam("before", type_=String()) + cast(_next, String) + bindparam("after")
                ),
            )
            .where(_head.c.id == chain.HEAD_ID, *conditions)
            .with_for_update(),
        )
        .returning(*(_events.c[name] for name in PLACE_IN_CHAIN))
    )


APPEND = append_statement()

_EVENTS_OF_REQUEST = (
    select(_events)
    .where(_events.c.request_id == bindparam("request_id"), _events.c.sequence > bindparam("after"))
    .order_by(_events.c.sequence)
)


def count_of_actions(actor: Any, action: Any, since: Any) -> Select[int]:
    """How many `action` events `actor` made since `since`: the velocity limits' count, run on its own or inside a
    deciding statement (see requests.Transition.within)."""
    return select(func.count()).where(_events.c.actor == actor, _events.c.action == action, _events.c.time >= since)


_COUNT_ACTIONS = count_of_actions(bindparam("actor"), bindparam("action"), bindparam("since"))


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended: the parameters of append_statement; `appended` makes the event from what
    the database decided of it."""

    params: dict[str, Any]

    def appended(self, place: Any) -> AuditEvent:
        """The event, at the place in the chain an append returned (a row with the PLACE_IN_CHAIN columns)."""
        p = self.params
        return AuditEvent.model_construct(  # our own values: see database.load
            sequence=place.sequence,
            time=p["time"],
            request_id=p["request_id"],
            actor=p["actor"],
            action=p["action"],
            detail=p["detail"],
            previous_hash=place.previous_hash,
            hash=place.hash,
        )


def new_event(*, actor: str, action: str, request_id: str | None, detail: dict[str, Any] | None) -> NewEvent:
    """The event's time and canonical detail, and its canonical JSON around the sequence the database will give
    it (chain.around_sequence)."""
    moment = utcnow()
    detail_text = canonical_json(detail or {})
    before, after = chain.around_sequence(
        time=chain.format_time(moment), request_id=request_id, actor=actor, action=action, detail=detail_text
    )
    return NewEvent(
        {
            "time": moment,
            "request_id": request_id,
            "actor": actor,
            "action": action,
            "detail": detail_text,
            "before": before,
            "after": after,
        }
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
    event = new_event(actor=actor, action=action, request_id=request_id, detail=detail)
    place = db.execute(APPEND, event.params).one_or_none()
    assert place is not None, "the audit head row is missing: run the migrations"
    return event.appended(place)


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
        "time": chain.format_time(event.time),
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
    """How many `action` events `actor` made since `since` (why a decision lost to its limit)."""
    return int(db.execute(_COUNT_ACTIONS, {"actor": actor, "action": action, "since": since}).scalar_one())
