"""The audit chain's tip row moves with each event inserted, by a trigger: an append is a tip read and an insert."""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"

# audit_head.id is 1 (storage.chain.HEAD_ID), made by the first migration.
_MOVE = "UPDATE audit_head SET sequence = NEW.sequence, hash = NEW.hash WHERE id = 1"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events BEGIN {_MOVE}; END")
        return
    op.execute(
        "CREATE FUNCTION audit_events_move_head() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {_MOVE}; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_move_head()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_move_head")
        return
    op.execute("DROP TRIGGER audit_events_move_head ON audit_events")
    op.execute("DROP FUNCTION audit_events_move_head()")
