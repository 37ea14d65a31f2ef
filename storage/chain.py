"""Proof that the audit chain is whole: the hash rule, full and incremental walks, the anchors they compare."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, bindparam, cast, func, insert, literal, select

from storage.database import load, table
from storage.models import AuditCheck, AuditEvent, AuditHead
from storage.sql_functions import sha256_hex

GENESIS_HASH = "0" * 64
HEAD_ID = 1

# How canonical JSON (sort_keys, no spaces, ensure_ascii=False) writes a string: the same function json.dumps uses.
_json_string = json.encoder.encode_basestring


def format_time(moment: datetime) -> str:
    """The one text form of an event's time: what is hashed, exported and shown."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    previous_hash: str,
    sequence: int,
    time: str,
    request_id: str | None,
    actor: str,
    action: str,
    detail: str,
) -> str:
    """sha256(previous hash + the event as canonical JSON, keys sorted), with `detail` spliced in as the stored text.

    Hashing the stored bytes, not a parse of them, means a detail that reads the same but is stored differently
    (a duplicate key whose second value a CSV reader would show) no longer matches its hash."""
    before, after = around_sequence(time=time, request_id=request_id, actor=actor, action=action, detail=detail)
    return sha256_hex(f"{previous_hash}{before}{sequence}{after}")


def around_sequence(*, time: str, request_id: str | None, actor: str, action: str, detail: str) -> tuple[str, str]:
    """The event's canonical JSON before and after its sequence number: an append hashes them in the database
    around the sequence it takes there (storage.audit)."""
    request = "null" if request_id is None else _json_string(request_id)
    before = (
        f'{{"action":{_json_string(action)},"actor":{_json_string(actor)},"detail":{detail},'
        f'"request_id":{request},"sequence":'
    )
    return before, f',"time":{_json_string(time)}}}'


@dataclass(frozen=True)
class Anchor:
    """A tip of the chain seen whole at some moment, kept where a later rewrite of the database cannot reach."""

    sequence: int
    hash: str
    source: str  # where it was kept, for the report: "the check of …", "anchors.jsonl line 3", "Slack message …"


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    first_bad_sequence: int | None = None
    problem: str | None = None
    tip: Anchor | None = None  # the last event walked, when the chain is whole
    anchors_checked: int = 0

    def describe(self) -> str:
        if not self.ok:
            return f"audit chain broken at event {self.first_bad_sequence}: {self.problem}"
        against = f", matching {self.anchors_checked} anchored tips" if self.anchors_checked else ""
        return f"audit chain intact: {self.events} events{against}"


def broken(events: int, at: int, problem: str) -> VerifyReport:
    return VerifyReport(False, events, at, problem)


_events = table(AuditEvent)
_head = table(AuditHead)
_checks = table(AuditCheck)

_READ_HEAD = select(_head.c.sequence, _head.c.hash).where(_head.c.id == HEAD_ID)
_HASH_AT = select(_events.c.sequence, _events.c.hash).where(
    _events.c.sequence.in_(bindparam("sequences", expanding=True))
)


def _stored_time_text(dialect: str) -> ColumnElement[str]:
    """The event's time as format_time writes it, computed by the database from what it stores.

    SQLite keeps the time as the text `YYYY-MM-DD HH:MM:SS.ffffff` (UTC); PostgreSQL formats its timestamptz.
    Reading the text skips building a datetime per event, which is most of the cost of a walk in Python."""
    if dialect == "sqlite":
        return func.replace(cast(_events.c.time, String), " ", "T").concat(literal("Z"))
    return func.to_char(func.timezone("UTC", _events.c.time), literal('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))


def _walk_query(dialect: str) -> Any:
    return (
        select(
            _events.c.sequence,
            _stored_time_text(dialect),
            _events.c.request_id,
            _events.c.actor,
            _events.c.action,
            _events.c.detail,
            _events.c.previous_hash,
            _events.c.hash,
        )
        .where(_events.c.sequence > bindparam("after"))
        .order_by(_events.c.sequence)
        .limit(bindparam("batch"))
    )


def _rows_after(db: Connection, after: int, batch_size: int) -> Iterator[Sequence[Any]]:
    """Keyset pagination in sequence order: constant memory over any number of events. The rows come straight
    from the driver's cursor: every column is text or a number, so SQLAlchemy's row objects would only add cost
    (a third of a walk's time)."""
    query = _walk_query(db.dialect.name)
    while True:
        result = db.execute(query, {"after": after, "batch": batch_size})
        try:
            batch = result.cursor.fetchall()
        finally:
            result.close()
        if not batch:
            return
        yield from batch
        after = batch[-1][0]


def verify(
    db: Connection, *, anchors: Iterable[Anchor] = (), start: Anchor | None = None, batch_size: int = 20_000
) -> VerifyReport:
    """Walk the chain in order and name the first event whose sequence, link or hash does not match, or the first
    anchor the chain no longer holds.

    `start`, a tip an earlier walk found whole, makes the walk incremental: only the events after it are hashed,
    once it is confirmed to be still in the chain. `anchors` are tips kept elsewhere (checks, files, Slack): each
    must still be in the chain with the same hash, so deleting the last events, or rewriting the whole chain and
    hashing it again, is caught."""
    anchored = {anchor.sequence: anchor for anchor in anchors}
    if start is not None:
        anchored.setdefault(start.sequence, start)
    problem = _anchors_missing(db, anchored)
    if problem is not None:
        return problem
    expected_sequence, expected_previous = (start.sequence + 1, start.hash) if start else (1, GENESIS_HASH)
    count = expected_sequence - 1
    for sequence, time, request_id, actor, action, detail, previous_hash, stored_hash in _rows_after(
        db, count, batch_size
    ):
        if sequence != expected_sequence:
            return broken(count, expected_sequence, f"event {expected_sequence} is missing (found {sequence})")
        if previous_hash != expected_previous:
            return broken(count, sequence, "its previous hash does not match the event before")
        actual = event_hash(
            previous_hash=previous_hash,
            sequence=sequence,
            time=time,
            request_id=request_id,
            actor=actor,
            action=action,
            detail=detail,
        )
        if actual != stored_hash:
            return broken(count, sequence, "its content does not match its hash (edited)")
        expected_previous = stored_hash
        expected_sequence += 1
        count += 1
    return _matches_head(db, count, expected_previous, anchored)


def _anchors_missing(db: Connection, anchored: dict[int, Anchor]) -> VerifyReport | None:
    """The first anchor whose event is gone or holds another hash, in sequence order."""
    if not anchored:
        return None
    found: dict[int, str] = {}
    wanted = sorted(anchored)
    for first in range(0, len(wanted), 500):
        chunk = wanted[first : first + 500]
        found.update((row.sequence, row.hash) for row in db.execute(_HASH_AT, {"sequences": chunk}))
    for sequence in wanted:
        anchor = anchored[sequence]
        if sequence not in found:
            return broken(
                0,
                sequence,
                f"event {sequence} was anchored by {anchor.source} but is no longer in the chain (events deleted)",
            )
        if found[sequence] != anchor.hash:
            return broken(
                0,
                sequence,
                f"its hash differs from the one anchored by {anchor.source} (the chain was rewritten)",
            )
    return None


def _matches_head(db: Connection, count: int, last_hash: str, anchored: dict[int, Anchor]) -> VerifyReport:
    head = db.execute(_READ_HEAD).one_or_none()
    if head is None:
        return broken(count, count + 1, "the recorded tip (audit_head) is missing (events may have been deleted)")
    if head.sequence != count or head.hash != last_hash:
        return broken(
            count,
            count + 1 if head.sequence > count else head.sequence,
            f"the chain ends at event {count} but the recorded tip is event {head.sequence}",
        )
    tip = Anchor(count, last_hash, "this walk") if count else None
    return VerifyReport(True, count, tip=tip, anchors_checked=len(anchored))


def record_check(db: Connection, report: VerifyReport, *, at: datetime) -> None:
    """Keep a walk's verdict, and its tip when whole: later walks require that tip to still be in the chain."""
    db.execute(
        insert(_checks).values(
            checked_at=at,
            ok=report.ok,
            events=report.events,
            description=report.describe(),
            tip_sequence=report.tip.sequence if report.tip else None,
            tip_hash=report.tip.hash if report.tip else None,
        )
    )


def latest_check(db: Connection) -> AuditCheck | None:
    found = load(AuditCheck, db.execute(select(_checks).order_by(_checks.c.id.desc()).limit(1)))
    return found[0] if found else None


def recorded_anchors(db: Connection, *, newest_only: bool = False) -> list[Anchor]:
    """The tips earlier checks found whole (oldest first), or only the newest: the chain may never lose them."""
    query = select(_checks.c.checked_at, _checks.c.tip_sequence, _checks.c.tip_hash).where(
        _checks.c.ok, _checks.c.tip_sequence.is_not(None)
    )
    query = query.order_by(_checks.c.id.desc()).limit(1) if newest_only else query.order_by(_checks.c.id)
    return [
        Anchor(row.tip_sequence, row.tip_hash, f"the check of {format_time(row.checked_at)}")
        for row in db.execute(query).all()
    ]


def current_tip(db: Connection) -> Anchor | None:
    """The recorded tip as it stands (for an anchors file written by an export)."""
    head = db.execute(_READ_HEAD).one_or_none()
    if head is None or head.sequence == 0:
        return None
    return Anchor(head.sequence, head.hash, "the recorded tip")


def anchor_line(anchor: Anchor, *, at: datetime) -> str:
    """One line of an anchors file: a tip, and when it was written down."""
    return json.dumps({"sequence": anchor.sequence, "hash": anchor.hash, "at": format_time(at)}) + "\n"


def parse_anchors(lines: Iterable[str], *, name: str) -> list[Anchor]:
    """The tips in an anchors file; a line that is not one is an error naming the line, never skipped."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            sequence, digest = entry["sequence"], entry["hash"]
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"{name} line {number} is not an anchor (a JSON object with sequence and hash)") from None
        if not isinstance(sequence, int) or sequence < 1 or not _is_sha256(digest):
            raise ValueError(f"{name} line {number}: sequence must be a positive number and hash 64 hex digits")
        found.append(Anchor(sequence, digest, f"{name} line {number}"))
    return found


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
