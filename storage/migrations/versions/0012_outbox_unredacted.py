"""ix_outbox_unredacted (created_at) WHERE redact AND NOT redacted: the redact-links job's rows

The job runs every minute and looked for link-carrying replies not yet redacted by scanning the
whole outbox (30 days of replies) with the write lock held: 11 ms for 263,600 rows, ~110 ms at 30
days of one text a second. The partial index holds only the rows still to redact (the sender
redacts at once when Twilio takes a reply, so a handful).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 04:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unredacted",
        "outbox",
        ["created_at"],
        sqlite_where=sa.text("redact IS 1 AND redacted IS 0"),
        postgresql_where=sa.text("redact IS true AND redacted IS false"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unredacted", table_name="outbox")
