"""receipt_members.weight: a 64-bit integer

`\\SPLIT`'s exact amounts are stored as weights in minor units, and in a currency of four
decimals (the Chilean UF, CLF) an amount above 214,748.3647 is more than a 32-bit integer holds:
on PostgreSQL such a split failed ("something went wrong") however often it was sent. SQLite's
INTEGER is 64 bits already; its declared type follows, for the schema's sake.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-26 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipt_members") as batch:
        batch.alter_column(
            "weight", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True
        )


def downgrade() -> None:
    # a weight above 32 bits has no place in the old column: such a receipt is split equally
    # again (NULL on every row of it, as before 0021), its members unchanged
    op.execute(
        sa.text(
            "UPDATE receipt_members SET weight = NULL WHERE receipt_id IN"
            " (SELECT receipt_id FROM receipt_members WHERE weight > 2147483647)"
        )
    )
    with op.batch_alter_table("receipt_members") as batch:
        batch.alter_column(
            "weight", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True
        )
