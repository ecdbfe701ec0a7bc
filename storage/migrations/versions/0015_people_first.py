"""people first: order across priority messages, delayed and held replies, loop signals

- ix_inbox_waiting holds every unfinished message, priority ones too: a sender's later ordinary
  message waits until a priority one before it (STOP, \\UNLINK) is done.
- outbox.kind: the answer's kind, so a delayed link that a newer one superseded is not sent.
- reply_log.received_at and reply_log.digest: when the answered message arrived and its body's
  digest (plain texts), for the loop detector.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WAITING_BEFORE = "status IN ('pending', 'processing') AND priority <> 1"
WAITING = "status IN ('pending', 'processing')"


def _waiting_index(condition: str) -> None:
    op.drop_index("ix_inbox_waiting", table_name="inbox")
    op.create_index(
        "ix_inbox_waiting",
        "inbox",
        ["from_phone", "id"],
        sqlite_where=sa.text(condition),
        postgresql_where=sa.text(condition),
    )


def upgrade() -> None:
    _waiting_index(WAITING)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=True))
    with op.batch_alter_table("reply_log") as batch:
        batch.add_column(sa.Column("received_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("digest", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reply_log") as batch:
        batch.drop_column("digest")
        batch.drop_column("received_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("kind")
    _waiting_index(WAITING_BEFORE)
