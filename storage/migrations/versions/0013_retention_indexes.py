"""Indexes by age for the clean-up jobs (storage/schema.py RETENTION_INDEXES); ix_inbox_waiting

The hourly retention purge deletes an hour of rows next to days of kept ones. Its batches found
the old rows by walking every kept one (the inbox's done rows through ix_inbox_queue with a table
read each, the outbox's sent rows through ix_outbox_ready, posts whole), and the last batch of
each table walked them all with SQLite's write lock held: at a million kept rows a table, 0.15 s
for the inbox, 0.15 s for the outbox, 0.07 s for posts (bench/purge.py --kept), growing with the
days kept. The expired-link and -session purge and the Twilio media clean-up (every 5 minutes)
scanned their tables the same way.

The inbox's is on `received_at`, which no other statement filters on: an index on `done_at`
(the first version of this migration) was taken by PostgreSQL for the claim's per-sender count
(`from_phone = ? AND done_at >= ?`), walking every message handled in the last minute for each
sender (60-110 ms a claim at a million rows of history, bench/e2e.py --history). The reply
guard's rows get none for the same reason (its `phone IN (...) AND at >= ?`), and need none:
it keeps only the last 10 minutes of them.

And, on PostgreSQL, ix_inbox_waiting (from_phone, id) over unfinished ordinary messages, for the
claim's check that nothing earlier of the sender waits. PostgreSQL's statistics rarely see pending
rows (the queue is empty between bursts), so it turned that EXISTS into a join of every candidate
against every pending row through ix_inbox_queue: 37-52 ms a claim behind 3,000 pending. The
claim now keeps it a lookup per candidate (OFFSET 0), by this index: 1.6 ms. SQLite already looks
it up per candidate by ix_inbox_sender and gets no copy of the index to maintain.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NOT_DELETED = "twilio_media_url IS NOT NULL AND twilio_deleted_at IS NULL"
WAITING = "status IN ('pending', 'processing') AND priority <> 1"


def upgrade() -> None:
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])
    if op.get_bind().dialect.name == "postgresql":  # SQLite finds them by ix_inbox_sender
        op.create_index("ix_inbox_waiting", "inbox", ["from_phone", "id"], postgresql_where=sa.text(WAITING))
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_posts_created_at", "posts", ["created_at"])
    op.create_index("ix_link_tokens_expires_at", "link_tokens", ["expires_at"])
    op.create_index("ix_oauth_sessions_expires_at", "oauth_sessions", ["expires_at"])
    op.create_index(
        "ix_receipts_twilio_pending",
        "receipts",
        ["created_at"],
        sqlite_where=sa.text(NOT_DELETED),
        postgresql_where=sa.text(NOT_DELETED),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_inbox_waiting", table_name="inbox")
    for name, table in (
        ("ix_receipts_twilio_pending", "receipts"),
        ("ix_oauth_sessions_expires_at", "oauth_sessions"),
        ("ix_link_tokens_expires_at", "link_tokens"),
        ("ix_posts_created_at", "posts"),
        ("ix_outbox_created_at", "outbox"),
        ("ix_inbox_received_at", "inbox"),
    ):
        op.drop_index(name, table_name=table)
