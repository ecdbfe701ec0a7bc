"""early_statuses: status callbacks that came before their reply's sid was recorded

Twilio may call `/twilio/status` as soon as it has taken a message, before the sender has
committed the sid it answered with; such a callback matched no reply, was answered 200 and never
sent again: a WhatsApp reply failed with 63016 was not sent again as its template. Kept here and
applied once the reply has its sid.

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_statuses",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("twilio_sid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(16)),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_statuses")),
    )
    op.create_index("ix_early_statuses_twilio_sid", "early_statuses", ["twilio_sid"])


def downgrade() -> None:
    op.drop_index("ix_early_statuses_twilio_sid", table_name="early_statuses")
    op.drop_table("early_statuses")
