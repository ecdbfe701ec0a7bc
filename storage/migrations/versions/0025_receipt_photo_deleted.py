"""receipts.photo_deleted_at and photo_deleted_why: a receipt whose photo is gone from the store

At the uploader's request (`textwire person delete ADDRESS --receipts`: "request") or by
`media.retention_days` ("retention"). The receipt stays in its room's ledger (its amount, who paid
it); the gallery and the statements say the photo was deleted, and why. NULL: the photo is kept.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-25 14:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("photo_deleted_at", sa.Float, nullable=True))
    op.add_column("receipts", sa.Column("photo_deleted_why", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("receipts", "photo_deleted_why")  # in place, as 0022's
    op.drop_column("receipts", "photo_deleted_at")
