"""Workflow: the Slack command key that makes retried deliveries harmless, attempt count, retry safety."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("cancellation_requests") as batch:
        batch.add_column(sa.Column("command_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_safe", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_unique_constraint("uq_cancellation_requests_command_key", ["command_key"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
