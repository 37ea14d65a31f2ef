"""Follow-up: a request keeps the ticket it came from, a rejection its reason; a waiting request is reminded and
escalated once each."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("cancellation_requests") as table:
        table.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        table.add_column(sa.Column("ticket_link", sa.Text(), nullable=True))
        # When the approvers were reminded, and the admins told, that it still waits: each claimed once.
        table.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cancellation_requests") as table:
        table.drop_column("escalated_at")
        table.drop_column("reminded_at")
        table.drop_column("ticket_link")
        table.drop_column("decision_reason")
