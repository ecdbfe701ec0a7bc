"""receipts.original_minor, original_currency and original_rate: what `\\AMOUNT ... CUR @rate` converted

`\\AMOUNT 678 JPY @0.006667` stores $4.52 in the room's money; the figure typed (678, in minor
units of JPY), its money and the rate (as typed, `0.006667`: the room's money for one of it) are
kept beside it, so the gallery, the statement and its CSV, and a person's export show where the
amount came from: `$4.52 (¥678 at 0.006667)`. A later `\\AMOUNT` without a rate (or `\\AMOUNT 0`)
clears them. NULL: the amount was not converted (or was set before this revision).

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("original_minor", sa.BigInteger, nullable=True))
    op.add_column("receipts", sa.Column("original_currency", sa.String(3), nullable=True))
    op.add_column("receipts", sa.Column("original_rate", sa.String(24), nullable=True))


def downgrade() -> None:
    # in place on both databases, as 0025's; the converted amount stays, its origin is forgotten
    op.drop_column("receipts", "original_rate")
    op.drop_column("receipts", "original_currency")
    op.drop_column("receipts", "original_minor")
