"""Admin features: role grants awaiting a second admin, DM notices sent, audit check results; thread posting lease."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "role_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("card_ts", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "notices",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("window", sa.String(16), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_events_actor_action_time", "audit_events", ["actor", "action", "time"])
    with op.batch_alter_table("cancellation_requests") as batch:
        # The last status the requester was told about by DM (claimed by a conditional update, so once).
        batch.add_column(sa.Column("notified_status", sa.String(20), nullable=False, server_default="pending"))
        # Who is posting to the thread: one poster at a time keeps lines in order and each line once.
        batch.add_column(sa.Column("thread_lock_at", sa.DateTime(timezone=True), nullable=True))
