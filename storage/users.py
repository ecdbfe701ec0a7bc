"""Users: one row a phone number."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import insert_ignore
from storage.schema import users


@dataclass(frozen=True)
class User:
    id: int
    phone: str
    created_at: float
    opted_out: bool
    active_room_id: str | None
    x_user_id: str | None
    x_handle: str | None
    x_needs_relink: bool
    x_relink_notified_at: float | None
    slowdown_notified_at: float | None

    @property
    def x_linked(self) -> bool:
        return self.x_user_id is not None and not self.x_needs_relink


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        phone=m["phone"],
        created_at=m["created_at"],
        opted_out=bool(m["opted_out"]),
        active_room_id=m["active_room_id"],
        x_user_id=m["x_user_id"],
        x_handle=m["x_handle"],
        x_needs_relink=bool(m["x_needs_relink"]),
        x_relink_notified_at=m["x_relink_notified_at"],
        slowdown_notified_at=m["slowdown_notified_at"],
    )


async def get_by_phone(conn: AsyncConnection, phone: str) -> User | None:
    row = (await conn.execute(sa.select(users).where(users.c.phone == phone))).first()
    return _user(row) if row else None


async def get_by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def phone_of(conn: AsyncConnection, user_id: int) -> str | None:
    value = (await conn.execute(sa.select(users.c.phone).where(users.c.id == user_id))).scalar()
    return str(value) if value is not None else None


async def get_or_create(conn: AsyncConnection, phone: str, now: float) -> tuple[User, bool]:
    """The user of `phone`, created if new; the flag says whether it was created."""
    result = await conn.execute(insert_ignore(conn, users).values(phone=phone, created_at=now))
    user = await get_by_phone(conn, phone)
    assert user is not None
    return user, result.rowcount == 1


async def set_opted_out(conn: AsyncConnection, phone: str, opted_out: bool, now: float) -> None:
    """Record an opt-out (or opt-in) for a phone, creating its row if needed."""
    await conn.execute(insert_ignore(conn, users).values(phone=phone, created_at=now))
    await conn.execute(
        sa.update(users)
        .where(users.c.phone == phone)
        .values(opted_out=opted_out, opted_out_at=now if opted_out else None)
    )


async def is_opted_out(conn: AsyncConnection, phone: str) -> bool:
    value = (await conn.execute(sa.select(users.c.opted_out).where(users.c.phone == phone))).scalar()
    return bool(value)


async def delete(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(sa.delete(users).where(users.c.id == user_id))


async def mark_slowdown_notified(conn: AsyncConnection, user_id: int, now: float) -> None:
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(slowdown_notified_at=now))
