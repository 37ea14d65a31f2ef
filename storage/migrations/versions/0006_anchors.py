"""Anchors: each check of the audit chain keeps the tip it found whole, so later checks can require it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("audit_checks") as table:
        table.add_column(sa.Column("tip_sequence", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("tip_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_checks") as table:
        table.drop_column("tip_hash")
        table.drop_column("tip_sequence")
