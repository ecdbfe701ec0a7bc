"""pair_codes: `\\PAIR`'s one-time codes; addresses found by their address alone

- pair_codes (user_id, code_hash, expires_at, created_at): a 6-digit code a person asked for
  from one address, good for 10 minutes and one use, to join another address to them. Only the
  code's SHA-256 is kept.
- ix_addresses_address: the worker and the sender look people up by the address a message came
  from or goes to, whatever its channel (the unique index leads with the channel).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pair_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_codes")),
    )
    op.create_index("ix_pair_codes_code_hash", "pair_codes", ["code_hash"])
    op.create_index("ix_pair_codes_user_id", "pair_codes", ["user_id"])
    op.create_index("ix_addresses_address", "addresses", ["address"])


def downgrade() -> None:
    op.drop_index("ix_addresses_address", table_name="addresses")
    op.drop_index("ix_pair_codes_user_id", table_name="pair_codes")
    op.drop_index("ix_pair_codes_code_hash", table_name="pair_codes")
    op.drop_table("pair_codes")
