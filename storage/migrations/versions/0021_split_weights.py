"""receipt_members.weight: `\\SPLIT`'s shares of a receipt

Each member's weight in the receipt's split: shares as given (`alice 2 bob 1`), percentages in
basis points (`alice 60%` is 6000), exact amounts in minor units. NULL on every row of a receipt
(all receipts before this): split equally, as before. The amount is divided in proportion to the
weights, so exact amounts stay exact and a later `\\AMOUNT` keeps the proportions.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipt_members", sa.Column("weight", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("receipt_members", "weight")  # in place (0017's downgrade says why)
