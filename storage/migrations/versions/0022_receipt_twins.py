"""receipts.phash and receipts.duplicate_of: the same photo twice is counted once

- phash: a 256-bit difference hash of the stored image (64 hex digits; NULL for a PDF and for
  receipts before this), so the same picture re-encoded or resized is found again.
- duplicate_of: the earlier receipt of the room this one repeats (same bytes, or the same
  picture); such a receipt is kept but not counted until `\\AMOUNT` counts it anyway.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-25 13:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("phash", sa.String(64), nullable=True))
    op.add_column("receipts", sa.Column("duplicate_of", sa.String(36), nullable=True))


def downgrade() -> None:
    # in place, never by batch mode's copy (0017's downgrade: dropping receipts on SQLite would
    # delete every receipt_members row)
    op.drop_column("receipts", "duplicate_of")
    op.drop_column("receipts", "phash")
