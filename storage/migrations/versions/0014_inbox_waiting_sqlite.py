"""ix_inbox_waiting on SQLite too, instead of ix_inbox_sender

The claim's check that nothing earlier of a sender waits, and the senders query's "more of theirs
wait" flag, looked messages up by ix_inbox_sender (from_phone, status, id): an entry for every
message kept (30 days of them), rewritten at each change of status (received, claimed, done).
ix_inbox_waiting (from_phone, id) holds only the unfinished ordinary messages: a handful of pages
that stay in the cache, where each message's three writes landed on a page of their own in the
full index. bench/sqlite_hotpath.py (20,000 messages of history, batches of 30): SQLite's CPU
48.0 -> 43.4 us a text (BENCHMARKS.md "Stop 21"). PostgreSQL has had ix_inbox_waiting since 0013;
it loses ix_inbox_sender too (the senders query now states the waiting condition and uses it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WAITING = "status IN ('pending', 'processing') AND priority <> 1"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_inbox_waiting", "inbox", ["from_phone", "id"], sqlite_where=sa.text(WAITING))
    op.drop_index("ix_inbox_sender", table_name="inbox")


def downgrade() -> None:
    op.create_index("ix_inbox_sender", "inbox", ["from_phone", "status", "id"])
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_inbox_waiting", table_name="inbox")
