"""The audit chain: appends link by hash; any edit, reorder or deletion is caught and named."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from storage import audit, chain
from storage.database import Database


def fill(database: Database, count: int = 6) -> None:
    with database.write() as db:
        for n in range(count):
            audit.append(
                db,
                actor=f"U0ACTOR{n}",
                action="test.event",
                request_id=f"CR-{n:08d}",
                detail={"n": n, "note": "ünïcode ✓"},
            )


def tamper(database: Database, sql: str) -> None:
    with database.engine.begin() as connection:
        connection.exec_driver_sql(sql)


def test_a_fresh_chain_verifies(database: Database) -> None:
    fill(database)
    with database.write() as db:
        report = chain.verify(db)
    assert report.ok and report.events == 6


def test_each_hash_covers_the_previous_hash_and_the_event(database: Database) -> None:
    fill(database, 2)
    with database.write() as db:
        first, second = audit.events_for_request(db, "CR-00000000") + audit.events_for_request(db, "CR-00000001")
    assert first.previous_hash == chain.GENESIS_HASH
    assert second.previous_hash == first.hash
    import hashlib

    body = json.dumps(
        {
            "sequence": 2,
            "time": chain.format_time(second.time),
            "request_id": "CR-00000001",
            "actor": "U0ACTOR1",
            "action": "test.event",
            "detail": {"n": 1, "note": "ünïcode ✓"},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert second.hash == hashlib.sha256((first.hash + body).encode()).hexdigest()


# Quotes, escapes, control characters (PostgreSQL text holds no NUL), and text beyond ASCII.
AWKWARD = ['quote " backslash \\ slash /', "tab\tnew line\nreturn\r", "\x01\x1f\x7f", "é ü ß 中文 🙂 \u2028"]


def test_the_hash_the_database_computes_is_the_hash_rule_for_any_text(database: Database) -> None:
    """An append hashes the event in the database (one statement): the same bytes as the rule the walk applies."""
    with database.write() as db:
        added = [
            audit.append(db, actor=text, action=f"test.{n}", request_id=text, detail={"note": text, text: n})
            for n, text in enumerate(AWKWARD)
        ]
        added.append(audit.append(db, actor="U0ACTOR1", action="test.none"))  # no request, empty detail
    previous = chain.GENESIS_HASH
    for event in added:
        assert event.previous_hash == previous
        assert event.hash == chain.event_hash(
            previous_hash=previous,
            sequence=event.sequence,
            time=chain.format_time(event.time),
            request_id=event.request_id,
            actor=event.actor,
            action=event.action,
            detail=event.detail,
        )
        previous = event.hash
    with database.read() as db:
        stored = [(e.sequence, e.hash, e.detail) for e in audit.events_by_actor(db, "U0ACTOR1")]
        assert stored == [(added[-1].sequence, added[-1].hash, "{}")]
        assert chain.verify(db).ok


def test_appends_from_many_threads_make_one_unbroken_chain(database: Database) -> None:
    def append_ten(n: int) -> None:
        for i in range(10):
            with database.write() as db:
                audit.append(db, actor=f"U0ACTOR{n}", action="test.event", detail={"i": i})

    with ThreadPoolExecutor(8) as threads:
        list(threads.map(append_ten, range(8)))
    with database.read() as db:
        report = chain.verify(db)
    assert report.ok and report.events == 80, report.describe()


@pytest.mark.parametrize(
    ("sql", "bad_event"),
    [
        ('UPDATE audit_events SET detail = \'{"n":99,"note":"x"}\' WHERE sequence = 3', 3),
        ("UPDATE audit_events SET actor = 'U0MALLORY' WHERE sequence = 2", 2),
        ("UPDATE audit_events SET action = 'test.other' WHERE sequence = 5", 5),
        ("UPDATE audit_events SET request_id = NULL WHERE sequence = 4", 4),
        ("UPDATE audit_events SET time = time + INTERVAL '1 second' WHERE sequence = 1", 1),
        ("UPDATE audit_events SET detail = 'not json' WHERE sequence = 6", 6),
        ("DELETE FROM audit_events WHERE sequence = 3", 3),
        ("DELETE FROM audit_events WHERE sequence = 6", 6),  # the tip: caught by the recorded head
    ],
    ids=["detail", "actor", "action", "request", "time", "garbage", "deleted-middle", "deleted-last"],
)
def test_tampering_is_caught_and_the_first_bad_event_named(database: Database, sql: str, bad_event: int) -> None:
    fill(database)
    if database.engine.dialect.name == "sqlite" and "INTERVAL" in sql:
        sql = "UPDATE audit_events SET time = '2020-01-01 00:00:00.000000' WHERE sequence = 1"
    tamper(database, sql)
    with database.write() as db:
        report = chain.verify(db)
    assert not report.ok
    assert report.first_bad_sequence == bad_event
    assert f"event {bad_event}" in report.describe()


def test_swapping_two_events_is_caught(database: Database) -> None:
    fill(database)
    tamper(database, "UPDATE audit_events SET sequence = 100 WHERE sequence = 2")
    tamper(database, "UPDATE audit_events SET sequence = 2 WHERE sequence = 3")
    tamper(database, "UPDATE audit_events SET sequence = 3 WHERE sequence = 100")
    with database.write() as db:
        report = chain.verify(db)
    assert not report.ok and report.first_bad_sequence == 2


def test_export_csv_and_jsonl_give_back_every_event(sqlite_database: Database) -> None:
    fill(sqlite_database, 4)
    with sqlite_database.write() as db:
        csv_text = audit.export_csv_text(db)
        lines = io.StringIO()
        count = audit.export(db, lines, fmt="jsonl")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [int(r["sequence"]) for r in rows] == [1, 2, 3, 4]
    assert json.loads(rows[2]["detail"]) == {"n": 2, "note": "ünïcode ✓"}
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert count == 4 and records[3]["actor"] == "U0ACTOR3" and records[3]["detail"]["n"] == 3
    assert records[1]["previous_hash"] == records[0]["hash"]


def test_export_since_keeps_only_later_events(sqlite_database: Database) -> None:
    fill(sqlite_database, 3)
    tamper(sqlite_database, "UPDATE audit_events SET time = '2020-01-01 00:00:00.000000' WHERE sequence = 1")
    with sqlite_database.write() as db:
        text_out = audit.export_csv_text(db, since=audit.utcnow() - timedelta(days=1))
    assert [int(r["sequence"]) for r in csv.DictReader(io.StringIO(text_out))] == [2, 3]


def test_export_refuses_an_unknown_format(sqlite_database: Database) -> None:
    with sqlite_database.write() as db, pytest.raises(ValueError, match="csv or jsonl"):
        audit.export(db, io.StringIO(), fmt="xml")
