"""addresses: a person (a users row) reached at one or more addresses, on one or more channels

- addresses (user_id, channel, address, opted_out, created_at), unique (channel, address): the
  ways a person is reached. Backfilled with one 'sms' address per user, its `phone`, opted out
  as the user is. Former-member rows (`storage.ledger.FORMER_PREFIX`, `phone` 'former:...') have
  no number and get none.
- inbox.channel, outbox.channel, receipts.channel, 'sms' by default: the channel a message came
  in on or goes out on, and the channel a receipt's media reference (twilio_media_url) is at.
  The existing columns stay: message_sid, from_phone, to_phone, twilio_sid now hold the
  channel's external id and address.

Additive, for a rolling upgrade: the columns have server defaults, so the code before this
revision still inserts rows (they read 'sms'); its deletions of users reach the addresses by the
foreign key's cascade. Both ADD COLUMNs change no row (SQLite rewrites only the table's schema
entry; PostgreSQL 11+ stores a constant default in the catalog), and they come after the
backfill, so the exclusive locks they take on inbox, outbox and receipts are held only to the
commit.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

CHANNEL_TABLES = ("inbox", "outbox", "receipts")


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("opted_out", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_addresses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_addresses_channel_address")),
    )
    op.create_index("ix_addresses_user_id", "addresses", ["user_id"])
    op.execute(
        "INSERT INTO addresses (user_id, channel, address, opted_out, created_at)"
        " SELECT id, 'sms', phone, opted_out, created_at FROM users"
        " WHERE phone NOT LIKE 'former:%' ORDER BY id"
    )
    for table in CHANNEL_TABLES:  # no batch: both databases add a column in place
        op.add_column(table, sa.Column("channel", sa.String(16), server_default="sms", nullable=False))


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+ drops a column itself), not by batch mode's copy
    # of the table: on SQLite that drops the old table, and with foreign_keys=ON (every
    # connection, storage/db.py) dropping inbox set every outbox.inbox_id to NULL and dropping
    # receipts deleted every receipt_members row.
    for table in reversed(CHANNEL_TABLES):
        op.drop_column(table, "channel")
    op.drop_index("ix_addresses_user_id", table_name="addresses")
    op.drop_table("addresses")
