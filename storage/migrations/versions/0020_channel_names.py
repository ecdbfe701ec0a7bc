"""The name a channel gives a sender (Telegram's first name), shown to their rooms

- inbox.sender_name: the name the channel sent with the message (Telegram: `from.first_name` in
  a private chat); NULL for SMS and WhatsApp, which send none.
- addresses.label: the latest such name of the address: members with no `\\NAME` are shown by it
  (when it is a name `\\NAME` would accept), else by their masked address.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-25 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox", sa.Column("sender_name", sa.String(64), nullable=True))
    op.add_column("addresses", sa.Column("label", sa.String(64), nullable=True))


def downgrade() -> None:
    # in place on both databases, never by batch mode's copy of the table (0017's downgrade: on
    # SQLite, dropping inbox would set every outbox.inbox_id to NULL)
    op.drop_column("addresses", "label")
    op.drop_column("inbox", "sender_name")
