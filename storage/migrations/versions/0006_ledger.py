"""the ledger: amounts, split members, payments, names, room currencies (issue 12)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("name_key", sa.String(length=20), nullable=True))
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False))
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("amount_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("ocr_status", sa.String(length=16), nullable=True))
    op.create_table(
        "receipt_members",
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["receipts.id"],
            name=op.f("fk_receipt_members_receipt_id_receipts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_receipt_members_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("receipt_id", "position", name=op.f("pk_receipt_members")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=36), nullable=False),
        sa.Column("payer_id", sa.Integer(), nullable=True),
        sa.Column("payee_id", sa.Integer(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payee_id"], ["users.id"], name=op.f("fk_payments_payee_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["users.id"], name=op.f("fk_payments_payer_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_payments_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_payments_message_sid")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_room_created", ["room_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_room_created")
    op.drop_table("payments")
    op.drop_table("receipt_members")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("ocr_status")
        batch_op.drop_column("amount_source")
        batch_op.drop_column("currency")
        batch_op.drop_column("amount_minor")
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_column("currency")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("name_key")
        batch_op.drop_column("name")
