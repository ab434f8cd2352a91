"""Member activity: one row per member and (local) month in which they logged in or refreshed a
token. Statistics ("active users this month") read it; it outlives the login rows that
housekeeping prunes."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MemberActivity


def month_of(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date().replace(day=1)


async def record_activity(
    session: AsyncSession, member_id: int, *, now: datetime, timezone: str, login: bool
) -> None:
    """Upsert the member's row for this month (in the caller's transaction)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(MemberActivity).values(
        member_id=member_id,
        month=month_of(now, timezone),
        first_seen_at=now,
        last_seen_at=now,
        logins=1 if login else 0,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["member_id", "month"],
            set_={
                "last_seen_at": statement.excluded.last_seen_at,
                "logins": MemberActivity.logins + statement.excluded.logins,
            },
        )
    )
