"""join_slots: a room name under attack checks one password every few seconds

Once a name has had many wrong guesses lately, a guess from a number with no failure for it waits
for the name's slot instead of being refused: a flood of wrong guesses from other numbers cannot
lock members out, and the checks that reach the password hash stay bounded per name.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_slots",
        sa.Column("room_key", sa.String(64), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("room_key", name=op.f("pk_join_slots")),
    )


def downgrade() -> None:
    op.drop_table("join_slots")
