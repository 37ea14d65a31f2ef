"""The one way in: Core statements in one transaction, with the models' column types, on both databases."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import audit, processes, requests, roles
from storage.database import Database, make_engine, table
from storage.models import CancellationRequest, Role
from storage.requests import Standing
from tests.storage.test_state_machine import make_request

_requests = table(CancellationRequest)


def test_a_datetime_written_reads_back_equal_and_aware(database: Database) -> None:
    request_id = make_request(database)
    moment = audit.utcnow()
    with database.write() as db:
        locked = requests.lock_thread(db, request_id, owner="p1", now=moment, stale_before=moment, dead_before=moment)
        assert locked is not None and locked[0] == 0
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
        locked = requests.lock_thread(
            db, request_id, owner="p1", now=taken, stale_before=stale_before, dead_before=taken - timedelta(days=1)
        )
        return None if locked is None else locked[0]

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
        assert requests.lock_thread(
            db, request_id, owner="dead", now=now, stale_before=now - timedelta(hours=1), dead_before=now
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
        assert taken is not None and taken[0] == 0
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


def test_a_taken_thread_says_what_it_lacks_and_keeps_its_lease_only_while_events_wait(database: Database) -> None:
    request_id = make_request(database)
    now = audit.utcnow()
    lease = {"owner": "p1", "now": now, "stale_before": now - timedelta(hours=1), "dead_before": now}
    with database.write() as db:
        processes.register(db, process_id="p1", host="h", pid=1, now=now)
        created = audit.events_for_request(db, request_id)[-1]
        assert requests.lock_thread(db, request_id, **lease) == (0, created.sequence)
        noted = audit.append(db, actor="U0A", action="note", request_id=request_id)
        # Shown up to the creation: the note waits, so the lease is kept.
        assert requests.thread_shown(db, request_id, upto=created.sequence, now=now)
    with database.write() as db:
        assert requests.lock_thread(db, request_id, **{**lease, "owner": "p2"}) is None  # p1 still holds it
        assert not requests.thread_shown(db, request_id, upto=noted.sequence, now=now)  # all shown: given back
        assert requests.lock_thread(db, request_id, **{**lease, "owner": "p2"}) == (noted.sequence, None)


@pytest.mark.parametrize("way_in", ["write", "alone"])
def test_a_failing_block_rolls_back_the_statements_of_its_transaction(database: Database, way_in: str) -> None:
    request_id = make_request(database)
    with pytest.raises(RuntimeError), getattr(database, way_in)() as db:
        requests.set_card(db, request_id, channel="C0OTHER", card_ts="1.2", owner="test", now=audit.utcnow())
        raise RuntimeError("after the write")
    with database.read() as db:
        found = requests.find(db, request_id)
    # write() is one transaction. alone() on PostgreSQL committed the statement as it ran; on SQLite it is a write().
    committed_alone = way_in == "alone" and database.dialect == "postgresql"
    assert found is not None and found.card_ts == ("1.2" if committed_alone else None)


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
        first = requests.create(db, **fields).request
    with pytest.raises(IntegrityError) as raised, database.write() as db:
        requests.create(db, **fields)
    assert "sb_1001" not in str(raised.value)  # values stay out of the message
    with database.read() as db:
        assert requests.by_command_key(db, "trigger-1") == first
        assert [e.action for e in audit.events_for_request(db, first.id)] == ["request.created"]


def test_the_checks_before_a_request_read_roles_the_delivery_the_count_and_the_cover_in_one_statement(
    database: Database,
) -> None:
    with database.write() as db:
        roles.grant(db, user_id="U0REQUEST", role=Role.APPROVER, actor="cli:test")
    before = audit.utcnow() - timedelta(seconds=1)
    with database.read() as db:
        assert requests.standing(db, user_id="U0NOBODY", command_key="trigger-9", since=before) == Standing(
            set(), False, 0
        )
        assert requests.standing(db, user_id="U0REQUEST", command_key="trigger-9", since=before) == Standing(
            {Role.APPROVER}, False, 0
        )
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
    after = audit.utcnow() + timedelta(seconds=1)
    with database.read() as db:
        seen = requests.standing(db, user_id="U0REQUEST", command_key="trigger-9", since=before)
        assert seen == Standing({Role.APPROVER}, True, 1)
        assert requests.standing(db, user_id="U0REQUEST", command_key="", since=before) == Standing(
            {Role.APPROVER}, False, 1
        )
        assert requests.standing(db, user_id="U0REQUEST", command_key="", since=after).made == 0
        # The open request covers its own subscription at its provider, and no other.
        for subscription, covered in [(("sandbox", "sb_1001"), True), (("sandbox", "sb_1002"), False), (None, False)]:
            found = requests.standing(db, user_id="U0REQUEST", command_key="", since=after, subscription=subscription)
            assert found.covered is covered, subscription


def test_the_database_url_shows_no_password() -> None:
    assert "secret" not in repr(Database("postgresql+psycopg2://user:secret@127.0.0.1:1/x"))


def test_a_click_reads_the_request_with_the_clickers_roles_in_one_statement(database: Database) -> None:
    request_id = make_request(database)
    with database.write() as db:
        roles.grant(db, user_id="U0BOTH", role=Role.APPROVER, actor="cli:test")
        roles.grant(db, user_id="U0BOTH", role=Role.ADMIN, actor="cli:test")
    with database.read() as db:
        stored = requests.find(db, request_id)
        found, held = requests.find_with_roles(db, request_id.lower(), user_id="U0BOTH")
        assert found == stored and held == {Role.APPROVER, Role.ADMIN}
        assert requests.find_with_roles(db, request_id, user_id="U0NOBODY") == (stored, set())
        assert requests.find_with_roles(db, "REQNOSUCH1", user_id="U0BOTH") == (None, set())


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    """What a server restart or an idle timeout does to a pooled connection."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_postgresql_connection_that_sat_idle_is_pinged_and_replaced_when_dead(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, ping_if_idle=0.05)
    try:
        dead = _backend_pid(engine)
        _terminate(pg_url, dead)
        time.sleep(0.1)
        assert _backend_pid(engine) != dead  # no error: the ping found it dead and the pool connected anew
    finally:
        engine.dispose()


def test_a_postgresql_connection_used_a_moment_ago_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(pg_url, pool_size=1, ping_if_idle=60)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    try:
        first = _backend_pid(engine)
        assert [_backend_pid(engine) for _ in range(5)] == [first] * 5
        assert pings == []
        # Dead within the idle time: that statement fails, SQLAlchemy invalidates the pool, the next one connects.
        _terminate(pg_url, first)
        with pytest.raises(DBAPIError) as failed:
            _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_postgresql_reads_run_in_autocommit_on_a_pool_of_their_own(pg_url: str) -> None:
    database = Database(pg_url, pool_size=1)
    try:
        for _ in range(2):  # a returned connection comes back as it was: nothing switches it
            with database.read() as db:
                assert db.connection.driver_connection.autocommit  # type: ignore[union-attr]
            with database.write() as db:
                assert not db.connection.driver_connection.autocommit  # type: ignore[union-attr]
    finally:
        database.dispose()


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1:1/x", "postgresql+psycopg://u@127.0.0.1:1/x"])
def test_every_postgresql_url_form_reaches_the_installed_driver(url: str) -> None:
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg (3), which is not installed: the benchmark and the tests
    # hand URLs to Database directly, as the settings do.
    database = Database(url)
    try:
        assert database.engine.dialect.driver == "psycopg2"
    finally:
        database.dispose()
