"""Faults: at most one open request per provider and subscription (a unique partial index); Slack catch-up that
backs off and gives up on permanent errors; in-flight cancels owned by a live process; proposals to take the admin
role away; refusals counted per user, kind and minute."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# Open: it may still lead to a cancel (waiting, in flight, unknown, or failed and safe to retry).
OPEN = "status IN ('pending', 'executing', 'unknown') OR (status = 'failed' AND retry_safe)"


def upgrade() -> None:
    duplicated = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT provider, subscription_id FROM cancellation_requests WHERE {OPEN} "
                "GROUP BY provider, subscription_id HAVING count(*) > 1"
            )
        )
        .all()
    )
    if duplicated:
        names = ", ".join(f"{provider} {subscription}" for provider, subscription in duplicated)
        raise RuntimeError(
            f"these subscriptions have more than one open request: {names}. Settle, withdraw or reject all but one "
            "of each with the bot that runs now, then upgrade again."
        )
    with op.batch_alter_table("cancellation_requests") as table:
        # Slack catch-up: consecutive failures, when to try again, and the permanent error that ended it.
        table.add_column(sa.Column("slack_failures", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("slack_retry_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("slack_gave_up", sa.String(64), nullable=True))
        # The process whose cancel is in flight (see bot_processes); none for requests from before this version.
        table.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        # The process posting the card's thread (its lease is taken over at once when that process is dead).
        table.add_column(sa.Column("thread_lock_owner", sa.String(64), nullable=True))
    with op.batch_alter_table("role_grants") as table:
        # A proposal may also take the admin role away (from another admin): a second admin confirms that too.
        table.add_column(sa.Column("change", sa.String(8), nullable=False, server_default="grant"))
    op.create_table(
        "refusal_tallies",
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("window", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "bot_processes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "one_open_request_per_subscription",
        "cancellation_requests",
        ["provider", "subscription_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("one_open_request_per_subscription", table_name="cancellation_requests")
    op.drop_table("bot_processes")
    op.drop_table("refusal_tallies")
    with op.batch_alter_table("role_grants") as table:
        table.drop_column("change")
    with op.batch_alter_table("cancellation_requests") as table:
        for column in ("thread_lock_owner", "lease_owner", "slack_gave_up", "slack_retry_at", "slack_failures"):
            table.drop_column(column)
