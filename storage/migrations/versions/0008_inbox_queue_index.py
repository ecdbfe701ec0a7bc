"""ix_inbox_queue (status, priority, id): the worker's claim walks it in id order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.create_index("ix_inbox_queue", ["status", "priority", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_queue")
