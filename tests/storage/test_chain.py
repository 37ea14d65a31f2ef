"""The chain's proof against every way of rewriting it: shortened, head moved or lost, detail re-encoded, or the
whole chain rewritten and hashed again, caught by the tips earlier checks recorded and by anchors kept outside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage import audit, chain
from storage.database import Database
from tests.storage.test_audit import fill, tamper

MOMENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def walk(database: Database, **kwargs: object) -> chain.VerifyReport:
    with database.read() as db:
        return chain.verify(db, **kwargs)  # type: ignore[arg-type]


def check_and_record(database: Database) -> chain.VerifyReport:
    with database.read() as db:
        report = chain.verify(db, anchors=chain.recorded_anchors(db))
    with database.write() as db:
        chain.record_check(db, report, at=MOMENT)
    return report


def rewrite_from(database: Database, sequence: int, detail: str) -> None:
    """What someone with write access to the database can do: edit an event and hash every later one again."""
    with database.engine.begin() as connection:
        rows = connection.exec_driver_sql(
            "SELECT sequence, time, request_id, actor, action, detail, previous_hash FROM audit_events "
            f"WHERE sequence >= {sequence} ORDER BY sequence"
        ).all()
        previous = rows[0].previous_hash
        for row in rows:
            moment = row.time if isinstance(row.time, datetime) else datetime.fromisoformat(row.time)
            text = detail if row.sequence == sequence else row.detail
            digest = chain.event_hash(
                previous_hash=previous,
                sequence=row.sequence,
                time=chain.format_time(moment),
                request_id=row.request_id,
                actor=row.actor,
                action=row.action,
                detail=text,
            )
            connection.exec_driver_sql(
                "UPDATE audit_events SET detail = %(detail)s, previous_hash = %(previous)s, hash = %(hash)s "
                "WHERE sequence = %(sequence)s"
                if connection.dialect.name == "postgresql"
                else "UPDATE audit_events SET detail = :detail, previous_hash = :previous, hash = :hash "
                "WHERE sequence = :sequence",
                {"detail": text, "previous": previous, "hash": digest, "sequence": row.sequence},
            )
            previous = digest
        connection.exec_driver_sql(f"UPDATE audit_head SET hash = '{previous}'")


def test_a_rewritten_and_rehashed_chain_reads_whole_without_anchors(database: Database) -> None:
    """The limit the anchors exist for: a full rewrite is self-consistent."""
    fill(database)
    rewrite_from(database, 3, '{"n":300,"note":"forged"}')
    report = walk(database)
    assert report.ok and report.events == 6


def test_a_full_rewrite_is_caught_by_an_anchor_kept_outside(database: Database) -> None:
    fill(database)
    with database.read() as db:
        tip = chain.current_tip(db)
    assert tip is not None and tip.sequence == 6
    kept = chain.parse_anchors([chain.anchor_line(tip, at=MOMENT)], name="anchors.jsonl")
    rewrite_from(database, 3, '{"n":300,"note":"forged"}')
    report = walk(database, anchors=kept)
    assert not report.ok and report.first_bad_sequence == 6
    assert "anchors.jsonl line 1" in report.describe() and "rewritten" in report.describe()


def test_a_full_rewrite_is_caught_by_an_earlier_check(database: Database) -> None:
    fill(database)
    assert check_and_record(database).ok
    rewrite_from(database, 2, '{"n":200,"note":"forged"}')
    report = check_and_record(database)
    assert not report.ok and "the check of 2026-12-01T09:00:00" in report.describe()


def test_deleting_the_last_events_and_moving_the_head_back_is_caught(database: Database) -> None:
    fill(database)
    assert check_and_record(database).ok
    with database.read() as db:
        fourth = audit.events_for_request(db, "CR-00000003")[0]
    tamper(database, "DELETE FROM audit_events WHERE sequence > 4")
    tamper(database, f"UPDATE audit_head SET sequence = 4, hash = '{fourth.hash}'")
    assert walk(database).ok  # consistent without its history, as any shortened log would be
    report = check_and_record(database)
    assert not report.ok and report.first_bad_sequence == 6
    assert "no longer in the chain (events deleted)" in report.describe()


def test_deleting_the_last_events_with_the_head_row_is_caught(database: Database) -> None:
    fill(database)
    tamper(database, "DELETE FROM audit_events WHERE sequence > 4")
    tamper(database, "DELETE FROM audit_head")
    report = walk(database)
    assert not report.ok and "audit_head) is missing" in report.describe()


def test_a_head_moved_back_alone_is_caught(database: Database) -> None:
    fill(database)
    tamper(database, "UPDATE audit_head SET sequence = 5")
    report = walk(database)
    assert not report.ok and "recorded tip is event 5" in report.describe()


@pytest.mark.parametrize(
    "stored",
    [
        '{"n":99,"n":2,"note":"ünïcode ✓"}',  # a duplicate key: parsers keep the last, a reader may see the first
        '{"note":"ünïcode ✓","n":2}',  # the same object, keys out of order
        '{"n": 2, "note": "ünïcode ✓"}',  # the same object, spaced
        '{"n":2,"note":"\\u00fcn\\u00efcode \\u2713"}',  # the same object, escaped
    ],
    ids=["duplicate-key", "reordered", "spaced", "escaped"],
)
def test_a_detail_stored_differently_but_parsing_the_same_is_caught(database: Database, stored: str) -> None:
    fill(database)
    quoted = stored.replace("'", "''")
    tamper(database, f"UPDATE audit_events SET detail = '{quoted}' WHERE sequence = 3")
    report = walk(database)
    assert not report.ok and report.first_bad_sequence == 3 and "edited" in report.describe()


def test_an_incremental_walk_hashes_only_what_follows_its_start(database: Database) -> None:
    fill(database, 4)
    first = check_and_record(database)
    assert first.tip is not None and first.tip.sequence == 4
    fill(database, 3)
    tamper(database, "UPDATE audit_events SET actor = 'U0MALLORY' WHERE sequence = 2")  # before the start
    tamper(database, "UPDATE audit_events SET actor = 'U0MALLORY' WHERE sequence = 6")  # after it
    report = walk(database, start=first.tip)
    assert not report.ok and report.first_bad_sequence == 6
    assert not walk(database).ok and walk(database).first_bad_sequence == 2  # the full walk sees both


def test_an_incremental_walk_requires_its_start_to_be_unchanged(database: Database) -> None:
    fill(database, 4)
    first = check_and_record(database)
    assert first.tip is not None
    rewrite_from(database, 1, '{"n":100,"note":"forged"}')
    report = walk(database, start=first.tip)
    assert not report.ok and report.first_bad_sequence == 4 and "rewritten" in report.describe()


def test_an_incremental_walk_counts_the_whole_chain(database: Database) -> None:
    fill(database, 4)
    first = check_and_record(database)
    fill(database, 2)
    report = walk(database, start=first.tip)
    assert report.ok and report.events == 6 and report.tip is not None and report.tip.sequence == 6


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "line 1 is not an anchor"),
        ('{"sequence": 3}', "line 1 is not an anchor"),
        ('{"sequence": 0, "hash": "' + "a" * 64 + '"}', "positive number"),
        ('{"sequence": 3, "hash": "xyz"}', "64 hex digits"),
    ],
)
def test_a_bad_anchors_line_is_an_error_naming_it(line: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        chain.parse_anchors([line], name="anchors.jsonl")
