"""rooms.password_set_at: when the message that set the room's password was sent

`\\PASSWORD` from two members: the one sent later is the password, whichever is handled last. A
worker that died after committing an older `\\PASSWORD` and before recording it handled is
retried once its lease ends, and set the older password again over a newer one. NULL for rooms
made before (their password was set when they were made) and for those `\\CREATE` makes.

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: both databases add it without rewriting the table
    op.add_column("rooms", sa.Column("password_set_at", sa.Float))


def downgrade() -> None:
    op.drop_column("rooms", "password_set_at")
