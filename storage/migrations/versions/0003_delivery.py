"""Delivery: when a cancel attempt started (crash recovery), and what Slack has been shown (card, thread)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("cancellation_requests") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("card_dirty", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("thread_sequence", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_cancellation_requests_card_dirty", "cancellation_requests", ["card_dirty"])
