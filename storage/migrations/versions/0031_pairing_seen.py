"""addresses.paired_at and pair_codes.asked_from: when an address joined its person by `\\PAIR`,
and where the code was asked for

`\\UNPAIR <n>` takes one of a person's addresses out of them. An address paired in the last 24
hours may not take out the others (a code read over someone's shoulder joined a stranger, who
could then have taken the person's own number out), and the address that asked for the code is
told at once when a `\\PAIR <code>` joins a new one, so the person sees a pairing that was not
theirs while they can still undo it. NULL for the rows made before: addresses paired before this
revision count as paired long ago; a code asked for before it tells the person's notice address.

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: both databases add the columns without rewriting the tables
    op.add_column("addresses", sa.Column("paired_at", sa.Float))
    op.add_column("pair_codes", sa.Column("asked_from", sa.String(64)))


def downgrade() -> None:
    # in place on both databases, as 0020's and 0030's downgrades
    op.drop_column("pair_codes", "asked_from")
    op.drop_column("addresses", "paired_at")
