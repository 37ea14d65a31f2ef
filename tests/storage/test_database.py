"""The one way in: Core statements in one transaction, with the models' column types, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage import audit, processes, requests, roles
from storage.database import Database, table
from storage.models import CancellationRequest, Role
from tests.storage.test_state_machine import make_request

_requests = table(CancellationRequest)


def test_a_datetime_written_reads_back_equal_and_aware(database: Database) -> None:
    request_id = make_request(database)
    moment = audit.utcnow()
    with database.write() as db:
        assert (
            requests.lock_thread(db, request_id, owner="p1", now=moment, stale_before=moment, dead_before=moment) == 0
        )
    with database.read() as db:
        stored = db.execute(select(_requests.c.thread_lock_at).where(_requests.c.id == request_id)).scalar_one()
        found = requests.find(db, request_id)
    assert stored == moment and stored.tzinfo is not None
    assert found is not None and found.thread_lock_at == moment


def test_datetimes_compare_as_times_so_only_a_lapsed_lease_is_taken_over(database: Database) -> None:
    request_id = make_request(database)
    taken = audit.utcnow()
    tick = timedelta(microseconds=1)

    def lock(stale_before: datetime) -> int | None:
        return requests.lock_thread(
            db, request_id, owner="p1", now=taken, stale_before=stale_before, dead_before=taken - timedelta(days=1)
        )

    with database.write() as db:
        processes.register(db, process_id="p1", host="h", pid=1, now=taken)
        assert lock(taken) == 0
    with database.write() as db:
        assert lock(taken - tick) is None
        assert lock(taken + tick) == 0


def test_a_thread_lease_of_a_dead_process_is_taken_over_at_once(database: Database) -> None:
    request_id = make_request(database)
    now = audit.utcnow()
    with database.write() as db:
        processes.register(db, process_id="alive", host="h", pid=1, now=now)
        processes.register(db, process_id="dead", host="h", pid=2, now=now - timedelta(minutes=5))
        assert (
            requests.lock_thread(
                db, request_id, owner="dead", now=now, stale_before=now - timedelta(hours=1), dead_before=now
            )
            == 0
        )
    with database.write() as db:  # the lease is fresh, but its process has been silent for a minute: taken over
        taken = requests.lock_thread(
            db,
            request_id,
            owner="alive",
            now=now,
            stale_before=now - timedelta(hours=1),
            dead_before=now - timedelta(minutes=1),
        )
        assert taken == 0
        assert (
            requests.lock_thread(
                db,
                request_id,
                owner="dead",
                now=now,
                stale_before=now - timedelta(hours=1),
                dead_before=now - timedelta(minutes=1),
            )
            is None
        )  # a live holder keeps it


def test_a_failing_block_rolls_its_statements_back(database: Database) -> None:
    request_id = make_request(database)
    with pytest.raises(RuntimeError), database.write() as db:
        requests.set_card(db, request_id, channel="C0OTHER", card_ts="1.2")
        raise RuntimeError("after the write")
    with database.read() as db:
        found = requests.find(db, request_id)
    assert found is not None and found.card_ts is None


def test_a_second_request_from_the_same_command_is_refused_without_its_values(database: Database) -> None:
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
    with database.write() as db:
        first = requests.create(db, **fields)
    with pytest.raises(IntegrityError) as raised, database.write() as db:
        requests.create(db, **fields)
    assert "sb_1001" not in str(raised.value)  # values stay out of the message
    with database.read() as db:
        assert requests.by_command_key(db, "trigger-1") == first
        assert requests.count_since(db, requester="U0REQUEST", since=first.created_at) == 1
        assert [e.action for e in audit.events_for_request(db, first.id)] == ["request.created"]


def test_the_checks_before_a_request_read_roles_and_the_delivery_in_one_statement(database: Database) -> None:
    with database.write() as db:
        roles.grant(db, user_id="U0REQUEST", role=Role.APPROVER, actor="cli:test")
    with database.read() as db:
        assert requests.standing(db, user_id="U0NOBODY", command_key="trigger-9") == (set(), False)
        assert requests.standing(db, user_id="U0REQUEST", command_key="trigger-9") == ({Role.APPROVER}, False)
    with database.write() as db:
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
    with database.read() as db:
        assert requests.standing(db, user_id="U0REQUEST", command_key="trigger-9") == ({Role.APPROVER}, True)
        assert requests.standing(db, user_id="U0REQUEST", command_key="") == ({Role.APPROVER}, False)


def test_the_database_url_shows_no_password() -> None:
    assert "secret" not in repr(Database("postgresql+psycopg://user:secret@127.0.0.1:1/x"))
