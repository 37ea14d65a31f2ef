"""The request state machine: conditional updates pick exactly one winner; illegal moves are refused."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import NoResultFound

from storage import audit, chain, migrate, requests
from storage.database import Database, WriterLock
from storage.errors import DatabaseBusy, IllegalTransition
from storage.models import RequestStatus
from storage.requests import ActionLimit, Transition

S = RequestStatus


def make_request(database: Database, **overrides: object) -> str:
    with database.write() as db:
        created = requests.create(
            db,
            provider="sandbox",
            subscription_id=str(overrides.get("subscription_id", "sb_1001")),
            reason="customer asked",
            requester="U0REQUEST",
            channel="C0CHANNEL",
            snapshot="{}",
            expires_at=audit.utcnow() + timedelta(hours=1),
        )
        return created.request.id


@pytest.mark.parametrize("way_in", ["write", "alone"])
def test_sixteen_threads_racing_one_transition_have_exactly_one_winner(database: Database, way_in: str) -> None:
    request_id = make_request(database)
    barrier = threading.Barrier(16)
    wins: list[str] = []
    errors: list[BaseException] = []

    def approve(n: int) -> None:
        try:
            barrier.wait()
            with getattr(database, way_in)() as db:
                result = requests.transition(
                    db,
                    request_id,
                    Transition(
                        expected=S.PENDING,
                        target=S.EXECUTING,
                        actor=f"U0APPROVER{n:02d}",
                        action="request.approved",
                        decided_by=f"U0APPROVER{n:02d}",
                    ),
                )
            if result.won:
                wins.append(f"U0APPROVER{n:02d}")
        except BaseException as exc:  # surfaced below: a lost race must never be an error
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(wins) == 1
    with database.write() as db:
        stored = requests.get(db, request_id)
        approvals = [e for e in audit.events_for_request(db, request_id) if e.action == "request.approved"]
        assert chain.verify(db).ok
    assert stored.status == S.EXECUTING
    assert stored.decided_by == wins[0]
    assert [e.actor for e in approvals] == wins


def test_the_loser_sees_the_state_the_winner_left(database: Database) -> None:
    request_id = make_request(database)
    with database.write() as db:
        first = requests.transition(
            db,
            request_id,
            Transition(expected=S.PENDING, target=S.REJECTED, actor="U0A", action="request.rejected", decided_by="U0A"),
        )
    with database.write() as db:
        second = requests.transition(
            db,
            request_id,
            Transition(expected=S.PENDING, target=S.EXECUTING, actor="U0B", action="request.approved"),
        )
    assert first.won and not second.won
    assert second.request.status == S.REJECTED and second.request.decided_by == "U0A"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.CANCELLED),  # a cancel needs an approval first
        (S.REJECTED, S.EXECUTING),
        (S.CANCELLED, S.EXECUTING),
        (S.EXPIRED, S.EXECUTING),
        (S.EXECUTING, S.PENDING),
        (S.UNKNOWN, S.EXECUTING),  # a lost answer is verified, never blindly re-sent
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_error(
    sqlite_database: Database, current: RequestStatus, target: RequestStatus
) -> None:
    request_id = make_request(sqlite_database)
    with sqlite_database.write() as db, pytest.raises(IllegalTransition, match=f"from {current} to {target}"):
        requests.transition(db, request_id, Transition(expected=current, target=target, actor="U0X", action="x"))


def test_a_transition_and_its_audit_event_commit_together(sqlite_database: Database) -> None:
    request_id = make_request(sqlite_database)
    with pytest.raises(RuntimeError), sqlite_database.write() as db:
        requests.transition(
            db,
            request_id,
            Transition(expected=S.PENDING, target=S.REJECTED, actor="U0A", action="request.rejected"),
        )
        raise RuntimeError("crash before commit")
    with sqlite_database.write() as db:
        assert requests.get(db, request_id).status == S.PENDING
        assert [e.action for e in audit.events_for_request(db, request_id)] == ["request.created"]


def test_transitions_from_many_threads_each_alone_make_one_unbroken_chain(database: Database) -> None:
    ids = [make_request(database, subscription_id=f"sb_{n}") for n in range(24)]
    approve = Transition(
        expected=S.PENDING, target=S.EXECUTING, actor="U0APPROVER", action="request.approved", new_attempt=True
    )
    settle = Transition(expected=S.EXECUTING, target=S.CANCELLED, actor="system", action="provider.answered", attempt=1)

    def approve_and_settle(request_id: str) -> bool:
        with database.alone() as db:
            approved = requests.transition(db, request_id, approve).won
        with database.alone() as db:
            return approved and requests.transition(db, request_id, settle).won

    with ThreadPoolExecutor(8) as threads:
        assert all(threads.map(approve_and_settle, ids))
    with database.read() as db:
        report = chain.verify(db)
        histories = {tuple(e.action for e in audit.events_for_request(db, request_id)) for request_id in ids}
    assert report.ok and report.events == 3 * len(ids), report.describe()
    assert histories == {("request.created", "request.approved", "provider.answered")}


def test_a_transition_that_loses_appends_nothing(database: Database) -> None:
    request_id = make_request(database)
    with database.alone() as db:
        lost = requests.transition(
            db, request_id, Transition(expected=S.EXECUTING, target=S.CANCELLED, actor="system", action="x")
        )
    with database.read() as db:
        events = audit.events_for_request(db, request_id)
    assert not lost.won and lost.event is None and lost.request.status == S.PENDING
    assert [e.action for e in events] == ["request.created"]


def test_no_transition_is_made_without_its_event(database: Database) -> None:
    """A chain whose tip row is gone (only a tampered database has none) takes no event, so nothing changes."""
    request_id = make_request(database)
    with database.write() as db:
        db.execute(text("DELETE FROM audit_head"))
    try:
        with database.alone() as db:
            made = requests.transition(
                db,
                request_id,
                Transition(expected=S.PENDING, target=S.REJECTED, actor="U0A", action="request.rejected"),
            ).won
    except NoResultFound:  # SQLite: the append after the update finds no tip, and the transaction rolls back
        made = False
    with database.read() as db:
        assert not made and requests.get(db, request_id).status == S.PENDING
        assert [e.action for e in audit.events_for_request(db, request_id)] == ["request.created"]


def test_a_transition_alone_holds_the_chain_tip_only_while_its_statement_runs(pg_url: str) -> None:
    database = Database(pg_url)
    try:
        migrate.upgrade(database.engine)
        request_id = make_request(database)
        with database.alone() as db:
            approve = Transition(expected=S.PENDING, target=S.EXECUTING, actor="U0APPROVER", action="request.approved")
            assert requests.transition(db, request_id, approve).won
            with database.write() as other:  # the first block is still open; this append does not wait for it
                other.execute(text("SET LOCAL lock_timeout = '2s'"))
                audit.append(other, actor="U0OTHER", action="test.event")
        with database.read() as db:
            report = chain.verify(db)
        assert report.ok and report.events == 3, report.describe()
    finally:
        database.dispose()


def test_conditions_beyond_the_status_guard_the_update(database: Database) -> None:
    request_id = make_request(database)
    later = audit.utcnow() + timedelta(days=2)
    approve = Transition(expected=S.PENDING, target=S.EXECUTING, actor="U0A", action="request.approved")
    with database.write() as db:
        result = requests.transition(db, request_id, replace(approve, unexpired_at=later))
    assert not result.won and result.request.status == S.PENDING and result.event is None
    with database.write() as db:
        result = requests.transition(db, request_id, replace(approve, due_at=later, new_attempt=True))
    assert result.won and result.request.status == S.EXECUTING and result.request.attempts == 1
    assert result.event is not None and result.event.action == "request.approved"


def _approve_within(limit: int, *, since_hours: float = 1) -> Transition:
    since = audit.utcnow() - timedelta(hours=since_hours)
    within = ActionLimit(action="request.approved", since=since, most=limit)
    return Transition(expected=S.PENDING, target=S.EXECUTING, actor="U0A", action="request.approved", within=within)


def test_an_actor_at_the_limit_loses_the_transition_and_the_request_stays_as_it_was(database: Database) -> None:
    ids = [make_request(database, subscription_id=f"sb_{n}") for n in range(3)]
    with database.write() as db:
        assert requests.transition(db, ids[0], _approve_within(2)).won
        assert requests.transition(db, ids[1], _approve_within(2)).won
        third = requests.transition(db, ids[2], _approve_within(2))
    assert not third.won and third.request.status == S.PENDING and third.event is None
    with database.write() as db:  # only the window's events count: none in the last second
        assert requests.transition(db, ids[2], _approve_within(2, since_hours=-1 / 3600)).won


def test_approvals_racing_at_the_limit_pass_only_up_to_it_on_sqlite(sqlite_database: Database) -> None:
    # SQLite runs one write at a time, so the count inside each update sees every approval before it. (On
    # PostgreSQL, two updates running at the same instant each count without the other: README, Velocity limits.)
    ids = [make_request(sqlite_database, subscription_id=f"sb_{n}") for n in range(12)]
    barrier = threading.Barrier(len(ids))
    wins: list[str] = []

    def approve(request_id: str) -> None:
        barrier.wait()
        with sqlite_database.write() as db:
            if requests.transition(db, request_id, _approve_within(3)).won:
                wins.append(request_id)

    threads = [threading.Thread(target=approve, args=(request_id,)) for request_id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 3
    with sqlite_database.read() as db:
        assert audit.count_actions(db, actor="U0A", action="request.approved", since=audit.utcnow() - timedelta(1)) == 3


def test_a_retry_needs_a_failure_that_is_safe_to_retry(database: Database) -> None:
    request_id = make_request(database)
    with database.write() as db:
        for step in (
            Transition(expected=S.PENDING, target=S.EXECUTING, actor="U0A", action="request.approved"),
            Transition(expected=S.EXECUTING, target=S.FAILED, actor="system", action="x", retry_safe=False),
        ):
            assert requests.transition(db, request_id, step).won
    retry = Transition(expected=S.FAILED, target=S.EXECUTING, actor="U0A", action="request.retried")
    with database.write() as db:
        assert not requests.transition(db, request_id, replace(retry, only_if_retry_safe=True)).won


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_readers_do_not_wait_for_a_writer(sqlite_database: Database) -> None:
    import time

    request_id = make_request(sqlite_database)
    with sqlite_database.write() as writer:
        writer.execute(text("UPDATE cancellation_requests SET reason = 'held'"))  # holds the write lock
        started = time.perf_counter()
        with sqlite_database.read() as reader:
            assert requests.get(reader, request_id).reason == "customer asked"  # the committed state
        assert time.perf_counter() - started < 1.0
    with sqlite_database.read() as reader:
        assert requests.get(reader, request_id).reason == "held"


def _set_card_and_status(database: Database, request_id: str, status: RequestStatus) -> None:
    with database.write() as db:
        requests.set_card(db, request_id, channel="C0CHANNEL", card_ts="1.1", owner="test", now=audit.utcnow())
    with database.write() as db:
        db.execute(text("UPDATE cancellation_requests SET status = :s WHERE id = :id"), {"s": status, "id": request_id})


def test_a_status_is_claimed_for_the_requester_once_whatever_copy_the_caller_read(database: Database) -> None:
    request_id = make_request(database)
    _set_card_and_status(database, request_id, S.EXECUTING)
    with database.write() as db:
        assert requests.claim_notification(db, request_id, status=S.EXECUTING)
    # A caller holding the request as it was before that claim (nothing told yet) cannot claim it again...
    with database.write() as db:
        assert not requests.claim_notification(db, request_id, status=S.EXECUTING)
    _set_card_and_status(database, request_id, S.CANCELLED)
    # ...nor a status the request no longer has; the current one is claimed exactly once.
    with database.write() as db:
        assert not requests.claim_notification(db, request_id, status=S.EXECUTING)
        assert requests.claim_notification(db, request_id, status=S.CANCELLED)
        assert not requests.claim_notification(db, request_id, status=S.CANCELLED)


def test_a_released_claim_leaves_the_request_for_the_sweep(database: Database) -> None:
    request_id = make_request(database)
    _set_card_and_status(database, request_id, S.CANCELLED)
    told = [S.CANCELLED]
    with database.write() as db:
        # Never told, card up to date otherwise: the sweep still finds it.
        db.execute(text("UPDATE cancellation_requests SET thread_sequence = 99"))
        assert [r.id for r in requests.needing_slack_catch_up(db, told=told, now=audit.utcnow())] == [request_id]
    with database.write() as db:
        assert requests.claim_notification(db, request_id, status=S.CANCELLED)
    with database.write() as db:
        assert requests.needing_slack_catch_up(db, told=told, now=audit.utcnow()) == []
    with database.write() as db:
        requests.release_notification(db, request_id, status=S.CANCELLED)
    with database.write() as db:
        assert [r.id for r in requests.needing_slack_catch_up(db, told=told, now=audit.utcnow())] == [request_id]
        # A status nobody is told of (withdrawn, say) is not behind: it is not swept again and again.
        assert requests.needing_slack_catch_up(db, told=[S.EXPIRED], now=audit.utcnow()) == []


def test_a_writer_waits_for_another_process_then_gives_up_like_sqlite_would(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl", reason="file locks are POSIX only")
    path = tmp_path / "db-writer.lock"
    other = os.open(path, os.O_RDWR | os.O_CREAT)  # another open file: to flock, another process
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        lock = WriterLock(path, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match="another process"), lock:
            pass
        assert 0.3 <= time.monotonic() - started < 2
        threading.Timer(0.1, fcntl.flock, args=(other, fcntl.LOCK_UN)).start()
        with lock:  # handed over once the other lets go
            assert time.monotonic() - started < 5
        lock.close()
    finally:
        os.close(other)


def test_a_writer_thread_gives_up_when_another_thread_keeps_the_turn(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db-writer.lock", timeout=0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        with pytest.raises(DatabaseBusy, match="no turn"), lock:
            pass
    finally:
        release.set()
        holder.join()
    with lock:
        pass
    lock.close()
