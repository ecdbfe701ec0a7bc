"""inbox.room_id: the room a message's photos were sent to, while they wait for an outage

Photos that cannot be fetched or stored now (Twilio's media or the media store down) wait, and
the sender's later messages go on meanwhile: a `\\USE trip` sent after the house's receipt moved
that receipt to the trip when it was saved. The room active when the photos were first handled
is kept here and the saving uses it. NULL for the rows made before, and for every other message.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-29 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: PostgreSQL adds it without rewriting the table, SQLite in place
    op.add_column("inbox", sa.Column("room_id", sa.String(36)))


def downgrade() -> None:
    # in place on both databases, as 0030's downgrade
    op.drop_column("inbox", "room_id")
