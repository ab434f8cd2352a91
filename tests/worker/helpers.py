"""Small helpers for the worker tests."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Delivery, Notification


async def inbox_counts(session: AsyncSession, notice_id: int) -> Counter[int]:
    """Inbox rows of a notice per member."""
    rows = await session.execute(
        select(Notification.member_id, func.count())
        .where(Notification.notice_id == notice_id)
        .group_by(Notification.member_id)
    )
    return Counter(dict(rows.all()))


async def deliveries(session: AsyncSession, notice_id: int) -> dict[tuple[str, int], Delivery]:
    """(channel, target id) -> delivery, fresh from the database."""
    rows = await session.scalars(
        select(Delivery)
        .where(Delivery.notice_id == notice_id)
        .execution_options(populate_existing=True)
    )
    return {(row.channel, row.target_id): row for row in rows}
