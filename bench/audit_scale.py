"""The audit log at scale: verify time, export rate, lookup p99 by subscription id, bytes per event."""

from __future__ import annotations

import io
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.measure import summary_ms
from storage import audit, chain, migrate
from storage.database import Database
from storage.models import AuditEvent, AuditHead, CancellationRequest

INCREMENT = 1000  # events appended between two periodic checks, for the incremental check's figure
ACTIONS = ("request.created", "request.approved", "provider.answered", "request.rejected")


def fill(database: Database, *, events: int, per_request: int = 4, batch: int = 20_000) -> None:
    """Write a valid chain of `events` events over events/per_request requests, in bulk."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous, sequence = chain.GENESIS_HASH, 0
    requests_total = events // per_request
    with database.engine.begin() as connection:
        for first in range(0, requests_total, batch):
            rows = [
                {
                    "id": f"CR-{n:08d}",
                    "provider": "sandbox",
                    "subscription_id": f"sub_{n}",
                    "reason": "bench",
                    "requester": "U0BENCH001",
                    "channel": "C0BENCH001",
                    "status": "cancelled",
                    "snapshot": "{}",
                    "created_at": start,
                    "expires_at": start,
                    "attempts": 1,
                    "retry_safe": False,
                    "card_dirty": False,
                    "thread_sequence": 0,
                }
                for n in range(first, min(first + batch, requests_total))
            ]
            connection.execute(insert(CancellationRequest), rows)
        buffer: list[dict[str, Any]] = []
        for n in range(events):
            sequence += 1
            moment = start + timedelta(milliseconds=n)
            request_id = f"CR-{n // per_request:08d}"
            action = ACTIONS[n % per_request]
            detail = audit.canonical_json({"n": n, "outcome": "cancelled"} if n % per_request == 2 else {"n": n})
            digest = chain.event_hash(
                previous_hash=previous,
                sequence=sequence,
                time=chain.format_time(moment),
                request_id=request_id,
                actor="U0BENCH002",
                action=action,
                detail=detail,
            )
            buffer.append(
                {
                    "sequence": sequence,
                    "time": moment,
                    "request_id": request_id,
                    "actor": "U0BENCH002",
                    "action": action,
                    "detail": detail,
                    "previous_hash": previous,
                    "hash": digest,
                }
            )
            previous = digest
            if len(buffer) == batch:
                connection.execute(insert(AuditEvent), buffer)
                buffer = []
        if buffer:
            connection.execute(insert(AuditEvent), buffer)
        connection.execute(
            AuditHead.__table__.update()
            .where(AuditHead.__table__.c.id == chain.HEAD_ID)  # type: ignore[attr-defined]
            .values(sequence=sequence, hash=previous)
        )


def run(workdir: Path, *, events: int = 1_000_000, lookups: int = 1000) -> dict[str, Any]:
    path = workdir / "audit.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    started = time.perf_counter()
    fill(database, events=events)
    fill_s = time.perf_counter() - started

    started = time.perf_counter()
    with database.write() as db:
        report = chain.verify(db)
    verify_s = time.perf_counter() - started
    assert report.ok and report.events == events, report.describe()
    with database.write() as db:
        chain.record_check(db, report, at=audit.utcnow())

    # The running bot's periodic check: only what came after the last recorded tip is hashed.
    with database.write() as db:
        for n in range(INCREMENT):
            audit.append(db, actor="U0BENCH003", action="request.created", detail={"n": n})
    started = time.perf_counter()
    with database.read() as db:
        earlier = chain.recorded_anchors(db)
        incremental = chain.verify(db, anchors=earlier, start=earlier[-1])
    incremental_ms = (time.perf_counter() - started) * 1000
    assert incremental.ok and incremental.events == events + INCREMENT, incremental.describe()

    sink = io.StringIO()
    started = time.perf_counter()
    with database.write() as db:
        exported = audit.export(db, sink, fmt="csv")
    export_s = time.perf_counter() - started

    rng = random.Random(7)
    timings = []
    for _ in range(lookups):
        subscription = f"sub_{rng.randrange(events // 4)}"
        started = time.perf_counter()
        with database.write() as db:
            found = audit.events_for_subscription(db, subscription)
        timings.append(time.perf_counter() - started)
        assert len(found) == 4, subscription

    database.dispose()
    with sqlite3.connect(path) as raw:  # outside the engine, whose transactions lock the database up front
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    return {
        "events": events,
        "fill_s": round(fill_s, 1),
        "verify_s": round(verify_s, 2),
        "verify_events_per_s": round(events / verify_s),
        "incremental_events": INCREMENT,
        "incremental_check_ms": round(incremental_ms, 1),
        "export_rows_per_s": round(exported / export_s),
        "lookup_by_subscription": summary_ms(timings),
        "database_bytes_per_event": round(size / events, 1),
    }
