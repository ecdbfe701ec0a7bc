"""rooms.remind, rooms.timezone, rooms.reminded_period: scheduled reminders of who owes

- remind: "weekly", "monthly", or NULL (off, the default): `\\REMIND`.
- timezone: the room's IANA zone (`\\TIMEZONE`); NULL: from its creator's number.
- reminded_period: the last period reminded ("2026-W48", "2026-11"): a conditional update of it
  lets one process, once, send a period's reminders.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-25 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COLUMNS = (("remind", 8), ("timezone", 64), ("reminded_period", 16))


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("rooms", sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("rooms", name)  # in place (0017's downgrade says why)
