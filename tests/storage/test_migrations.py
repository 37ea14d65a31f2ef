"""Migrations: a database made by the first migration upgrades to the latest with its rows intact."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from storage import audit, chain, migrate, requests
from storage.database import Database


def test_first_migration_upgrades_to_latest_keeping_rows_and_chain(database_url: str) -> None:
    database = Database(database_url)
    assert migrate.upgrade(database.engine, "0001") == "0001"
    # Rows written the way the first schema's code wrote them.
    with database.write() as db:
        first = audit.append(
            db, actor="cli:admin", action="role.granted", detail={"user_id": "U0ADMIN", "role": "admin"}
        )
        # That code moved the tip itself; since 0008 a trigger does.
        db.execute(text("UPDATE audit_head SET sequence = :s, hash = :h"), {"s": first.sequence, "h": first.hash})
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO cancellation_requests (id, provider, subscription_id, reason, requester, channel, status, "
                "snapshot, created_at, expires_at) VALUES ('CR-AAAAAAAA', 'kajabi', 'p_1', 'asked', 'U0REQ', 'C0CH', "
                "'pending', '{}', :t, :t)"
            ),
            {"t": created},
        )
        connection.execute(
            text(
                "INSERT INTO role_assignments (user_id, role, granted_by, granted_at) VALUES ('U0ADMIN', 'admin', "
                "'cli:admin', :t)"
            ),
            {"t": created},
        )

    assert migrate.upgrade(database.engine) == migrate.head_revision()

    with database.write() as db:
        request = requests.get(db, "CR-AAAAAAAA")
        report = chain.verify(db)
        audit.append(db, actor="cli:admin", action="after.upgrade")
    assert request.subscription_id == "p_1" and request.command_key is None and request.attempts == 0
    assert request.created_at == created
    assert report.ok and report.events == 1
    with database.write() as db:
        assert chain.verify(db).events == 2
    database.dispose()


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    first = migrate.upgrade(database.engine)
    assert migrate.upgrade(database.engine) == first == migrate.head_revision()
