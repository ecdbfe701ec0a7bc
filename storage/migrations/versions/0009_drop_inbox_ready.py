"""drop ix_inbox_ready (status, next_attempt_at): the claim walks ix_inbox_queue

With both, SQLite's planner (no statistics) picked either for the claim's arms, and with
ix_inbox_ready it read and sorted every pending row; nothing else used it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 15:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_ready")


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.create_index("ix_inbox_ready", ["status", "next_attempt_at"], unique=False)
