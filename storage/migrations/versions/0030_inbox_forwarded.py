"""inbox.forwarded: the channel says the message was forwarded from another chat

Telegram's `forward_origin` (and the older `forward_from`, `forward_from_chat`,
`forward_sender_name`, `forward_date`), WhatsApp's `Forwarded` / `FrequentlyForwarded` through
Twilio: the words are someone else's, so a forwarded text is not posted to X as the person's and a
forwarded command is not run (handlers/forwarded.py). False for the rows made before, and for SMS,
which says nothing of it.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-28 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a constant default: PostgreSQL adds it without rewriting the table, SQLite in place
    op.add_column("inbox", sa.Column("forwarded", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # in place on both databases, as 0020's downgrade
    op.drop_column("inbox", "forwarded")
