"""The address an X link was asked from, so "Connected @handle" goes back there

- link_tokens.address: the address (`telegram:7001`, `+15550001111`) the link was texted to: the
  confirm page names it, and the session started from the link carries it on.
- oauth_sessions.address: the same, for the callback: "Connected @handle" goes to that address
  while it is still the person's and not opted out, else where every notice goes.
NULL for rows made before: those go where every notice goes, as before.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-26 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("link_tokens", sa.Column("address", sa.String(64), nullable=True))
    op.add_column("oauth_sessions", sa.Column("address", sa.String(64), nullable=True))


def downgrade() -> None:
    # in place on both databases, as 0020's downgrade
    op.drop_column("oauth_sessions", "address")
    op.drop_column("link_tokens", "address")
