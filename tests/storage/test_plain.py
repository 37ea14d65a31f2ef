"""Plain statements read and compare exactly what the ORM stores, in the caller's transaction, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage import audit, requests, roles
from storage.database import Database
from storage.models import AuditEvent, CancellationRequest, Role
from storage.plain import Statement
from tests.storage.test_state_machine import make_request

_LOCKED_AT = Statement("SELECT thread_lock_at FROM cancellation_requests WHERE id = :id")


def test_a_datetime_written_plainly_reads_back_equal_through_the_orm_and_plainly(database: Database) -> None:
    request_id = make_request(database)
    moment = audit.utcnow()
    with database.plain(write=True) as db:
        assert requests.lock_thread(db, request_id, now=moment, stale_before=moment)
    with database.session() as session:
        found = requests.find(session, request_id)
        assert found is not None
        assert found.thread_lock_at == moment
    with database.plain() as db:
        assert db.time(db.scalar(_LOCKED_AT, {"id": request_id})) == moment


def test_datetimes_compare_as_times_so_only_a_lapsed_lease_is_taken_over(database: Database) -> None:
    request_id = make_request(database)
    taken = audit.utcnow()
    with database.plain(write=True) as db:
        assert requests.lock_thread(db, request_id, now=taken, stale_before=taken)
    with database.plain(write=True) as db:
        assert not requests.lock_thread(db, request_id, now=taken, stale_before=taken - timedelta(microseconds=1))
        assert requests.lock_thread(db, request_id, now=taken, stale_before=taken + timedelta(microseconds=1))


def test_a_failing_block_rolls_its_statements_back(database: Database) -> None:
    request_id = make_request(database)
    with pytest.raises(RuntimeError), database.plain(write=True) as db:
        requests.set_card(db, request_id, channel="C0OTHER", card_ts="1.2")
        raise RuntimeError("after the write")
    assert _card_ts(database, request_id) is None


def test_plain_statements_join_a_sessions_transaction(database: Database) -> None:
    request_id = make_request(database)
    with database.session() as session:
        requests.set_card(session, request_id, channel="C0CARD", card_ts="9.9")
        found = requests.find(session, request_id)  # read plainly, in the same transaction
        assert found is not None
        assert (found.channel, found.card_ts) == ("C0CARD", "9.9")
        session.rollback()
    assert _card_ts(database, request_id) is None


def _card_ts(database: Database, request_id: str) -> str | None:
    with database.reader() as session:
        found = session.get(CancellationRequest, request_id)  # through the ORM
        assert found is not None
        return found.card_ts


def test_events_read_plainly_are_the_events_the_orm_reads(database: Database) -> None:
    request_id = make_request(database)
    with database.reader() as session:
        query = select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(col(AuditEvent.sequence))
        through_orm = list(session.exec(query).all())
    with database.plain() as db:
        plainly = audit.events_for_request(db, request_id)
    assert [e.model_dump() for e in plainly] == [e.model_dump() for e in through_orm]
    assert plainly and plainly[0].time.tzinfo == through_orm[0].time.tzinfo


def test_a_second_request_from_the_same_command_is_refused_as_sqlalchemy_refuses_it(database: Database) -> None:
    fields: dict[str, Any] = {
        "provider": "sandbox",
        "subscription_id": "sb_1001",
        "reason": "customer asked",
        "requester": "U0REQUEST",
        "channel": "C0CHANNEL",
        "snapshot": "{}",
        "expires_at": audit.utcnow() + timedelta(hours=1),
        "command_key": "trigger-1",
    }
    with database.plain(write=True) as db:
        first = requests.create(db, **fields)
    with pytest.raises(IntegrityError) as raised, database.plain(write=True) as db:
        requests.create(db, **fields)
    assert "sb_1001" not in str(raised.value)  # values stay out of the message
    with database.plain() as db:
        assert requests.by_command_key(db, "trigger-1") == first
        assert requests.count_since(db, requester="U0REQUEST", since=first.created_at) == 1
        assert [e.action for e in audit.events_for_request(db, first.id)] == ["request.created"]


def test_the_checks_before_an_ack_read_roles_and_the_delivery_in_one_statement(database: Database) -> None:
    with database.session() as session:
        roles.grant(session, user_id="U0REQUEST", role=Role.APPROVER, actor="cli:test")
    with database.plain(single=True) as db:
        assert requests.standing(db, user_id="U0NOBODY", command_key="trigger-9") == (set(), False)
        assert requests.standing(db, user_id="U0REQUEST", command_key="trigger-9") == ({Role.APPROVER}, False)
    with database.plain(write=True) as db:
        requests.create(
            db,
            provider="sandbox",
            subscription_id="sb_1001",
            reason="customer asked",
            requester="U0REQUEST",
            channel="C0CHANNEL",
            snapshot="{}",
            expires_at=audit.utcnow() + timedelta(hours=1),
            command_key="trigger-9",
        )
    with database.plain(single=True) as db:
        assert requests.standing(db, user_id="U0REQUEST", command_key="trigger-9") == ({Role.APPROVER}, True)
        assert requests.standing(db, user_id="U0REQUEST", command_key="") == ({Role.APPROVER}, False)


def test_a_write_is_never_outside_a_transaction(sqlite_database: Database) -> None:
    with pytest.raises(ValueError, match="transaction"), sqlite_database.plain(write=True, single=True):
        pass
