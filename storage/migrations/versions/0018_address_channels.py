"""addresses.channel from the address's prefix: WhatsApp rows under 'whatsapp'

Migration 0017 filed every user's address under 'sms', `whatsapp:+E164` ones included (they came
through Twilio's SMS webhook). Each channel now has its own name, the prefix of its addresses
(`bot.core.channel.Address.key`): those rows move to 'whatsapp'. Telegram addresses
(`telegram:<chat id>`) are new with this revision: there are none to move.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE addresses SET channel = 'whatsapp' WHERE channel = 'sms' AND address LIKE 'whatsapp:%'"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("UPDATE addresses SET channel = 'sms' WHERE channel IN ('whatsapp', 'telegram')"))
