"""An index on every foreign key's column that had none (storage/schema.py FOREIGN_KEY_INDEXES)

Deleting a parent row makes the database look up its children for ON DELETE SET NULL / CASCADE;
without an index each deleted row scanned the child table. The hourly retention purge of inbox
rows scanned the outbox (30 days of replies) once per row, with the write lock held: an hour at
one text a second against 3 days of outbox took 73 s on SQLite (bench/purge.py), 0.05 s with the
index. Account deletion scanned posts, receipts, payments and the rest once each.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 04:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_outbox_inbox_id", "outbox", "inbox_id"),
    ("ix_users_active_room_id", "users", "active_room_id"),
    ("ix_link_tokens_user_id", "link_tokens", "user_id"),
    ("ix_oauth_sessions_user_id", "oauth_sessions", "user_id"),
    ("ix_posts_user_id", "posts", "user_id"),
    ("ix_receipts_uploader_id", "receipts", "uploader_id"),
    ("ix_receipt_members_user_id", "receipt_members", "user_id"),
    ("ix_payments_payer_id", "payments", "payer_id"),
    ("ix_payments_payee_id", "payments", "payee_id"),
    ("ix_room_departures_room_id", "room_departures", "room_id"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
