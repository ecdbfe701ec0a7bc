"""x_revocations: refresh tokens still to revoke at X

`\\UNLINK`, `\\STOP` and a reconnect delete or replace the stored pair; when X cannot be reached for
the revocation (or answers 5xx or 429), the refresh token (encrypted, as tokens are stored) waits
here and the x-revoke job retries it with backoff for a bounded time, so the grant does not stay
live at X with nothing here able to end it. No foreign key: `\\STOP` deletes the user.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-25 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("x_revocations"):
        # left behind by a rollback: `pg_restore --clean` of a backup made before this revision
        # drops and restores only what the dump holds, so the table stays (with its index and any
        # revocations still due) while alembic_version says 0025. Kept: creating it again failed,
        # and the upgrade with it, however often it was run.
        return
    op.create_table(
        "x_revocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x_revocations")),
    )
    op.create_index("ix_x_revocations_next_attempt_at", "x_revocations", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_x_revocations_next_attempt_at", table_name="x_revocations")
    op.drop_table("x_revocations")
