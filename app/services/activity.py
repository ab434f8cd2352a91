"""Member activity: one row per member and (local) month in which they logged in or refreshed a
token. Statistics ("active users this month") read it; it outlives the login rows that
housekeeping prunes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import dialect_insert
from app.models import MemberActivity


def month_of(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date().replace(day=1)


async def record_activity(
    session: AsyncSession, member_id: int, *, now: datetime, timezone: str, login: bool
) -> None:
    """Upsert the member's row for this month (in the caller's transaction)."""
    statement = dialect_insert(session, MemberActivity).values(
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


async def seed_province_activity(conn: AsyncConnection, province: Any) -> int:
    """The generated province's use of the app (`province.AREA_SEEDERS`), for the statistics:
    ~93% of members activated, ~75% active in each of the last three months (deterministic by
    the province's seed). Returns the rows written."""
    from app.services.province import copy_rows

    rng = random.Random(province.seed * 31 + 16)  # noqa: S311 - sample data, not secrets
    today = datetime.now(UTC).date()
    months = [today.replace(day=1)]
    for _ in range(2):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    columns = ("member_id", "month", "first_seen_at", "last_seen_at", "logins")
    table = cast(Table, MemberActivity.__table__)
    rows: list[tuple[Any, ...]] = []
    written = 0
    for member_id in range(province.first_member_id, province.first_member_id + province.members):
        if rng.random() >= 0.93:
            continue
        for month in months:
            if rng.random() < 0.75 or month == months[-1]:
                seen = datetime.combine(month, datetime.min.time(), tzinfo=UTC) + timedelta(
                    hours=rng.randrange(1, 24 * 27)
                )
                rows.append((member_id, month, seen, seen, 1 + rng.randrange(5)))
        if len(rows) >= 5000:
            await copy_rows(conn, table, columns, rows)
            written += len(rows)
            rows = []
    await copy_rows(conn, table, columns, rows)
    return written + len(rows)
