"""receipts.amount_message_sid: the `\\AMOUNT` message that set a receipt's amount

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:58:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("amount_message_sid", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_column("amount_message_sid")
