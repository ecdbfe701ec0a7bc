"""receipts.identity: the merchant, date and time a receipt prints, to tell a repeat

`MERCHANT|date|time` as OCR read it (bot/features/ocr/total.py identity_of; NULL for a caption's
amount, a receipt without a merchant or a date, and receipts before this). A new receipt with the
identity, total and currency of an earlier one in the room is kept but not counted, like the same
photo twice (receipts.duplicate_of).

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-25 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("identity", sa.String(120), nullable=True))


def downgrade() -> None:
    op.drop_column("receipts", "identity")  # in place, as 0022's
