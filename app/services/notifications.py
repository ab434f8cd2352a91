"""The member's notifications inbox and notification preferences.

Every notice lands in the inbox of each member it reaches (the worker writes the rows), so
nothing is lost for members whose push failed or who have no device. Lists are keyset pages,
newest first. `UNREAD_COUNT` is the count as a lean-reader query, for `/me/home` to include
without another round trip.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import NoticeKind, Notification, NotificationPreference
from app.models.base import utcnow
from app.schemas.notification import (
    NotificationPreferenceRead,
    NotificationPreferenceUpdate,
    NotificationSummary,
)

SORT = "inbox"
_KINDS = frozenset(str(kind) for kind in NoticeKind)
_n = Notification.__table__

UNREAD_COUNT = FastQuery(
    select(func.count().label("unread"))
    .select_from(_n)
    .where(_n.c.member_id == bindparam("member_id", type_=BigInteger), _n.c.read_at.is_(None))
)


class NotificationNotFound(NotFound):
    default_code = "notification.not_found"
    default_detail = "Không tìm thấy thông báo."


def _summary(row: Notification) -> NotificationSummary:
    return NotificationSummary(
        id=row.id,
        kind=NoticeKind(row.kind),
        title=row.title,
        body=row.body,
        data=row.data,
        created_at=row.created_at,
        read_at=row.read_at,
    )


# The inbox page on the lean reader (DESIGN.md §5 read bar): one compiled statement per shape.
_INBOX: dict[tuple[bool, bool], FastQuery] = {}
_INBOX_COLUMNS = (
    _n.c.id,
    _n.c.kind,
    _n.c.title,
    _n.c.body,
    _n.c.data,
    _n.c.created_at,
    _n.c.read_at,
)


def _inbox_query(*, unread_only: bool, after: bool) -> FastQuery:
    query = _INBOX.get((unread_only, after))
    if query is None:
        stmt = select(*_INBOX_COLUMNS).where(
            _n.c.member_id == bindparam("member_id", type_=BigInteger)
        )
        if unread_only:
            stmt = stmt.where(_n.c.read_at.is_(None))
        if after:
            stmt = stmt.where(_n.c.id < bindparam("last_id", type_=BigInteger))
        stmt = stmt.order_by(_n.c.id.desc()).limit(bindparam("limit", type_=Integer))
        query = _INBOX[(unread_only, after)] = FastQuery(stmt)
    return query


def _data(value: Any) -> dict[str, str]:
    # asyncpg hands JSON back as text (no type processing on the lean path); SQLite as a dict.
    data: dict[str, str] = json.loads(value) if isinstance(value, str) else value
    return data


async def list_notifications(
    reader: Reader,
    member_id: int,
    *,
    limit: int,
    cursor: str | None = None,
    unread_only: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """The member's inbox, newest first: `(items, next_cursor)`, on the lean reader."""
    params: dict[str, Any] = {"member_id": member_id, "limit": limit + 1}
    if cursor is not None:
        (params["last_id"],) = decode_cursor(cursor, SORT, (int,))
    query = _inbox_query(unread_only=unread_only, after=cursor is not None)
    rows = await reader.fetch(query, params)
    items, next_cursor = page_of(rows, limit, SORT, lambda row: (row["id"],))
    return [
        {
            "id": row["id"],
            "kind": row["kind"],
            "title": row["title"],
            "body": row["body"],
            "data": _data(row["data"]),
            "created_at": row["created_at"],
            "read_at": row["read_at"],
        }
        for row in items
    ], next_cursor


async def unread_count(session: AsyncSession, member_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Notification.member_id == member_id, Notification.read_at.is_(None)
        )
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, member_id: int, notification_id: int, *, now: datetime | None = None
) -> NotificationSummary:
    """Mark one of the member's notifications read (idempotent; 404 for anyone else's)."""
    row = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.member_id == member_id
        )
    )
    if row is None:
        raise NotificationNotFound()
    if row.read_at is None:
        row.read_at = now or utcnow()
        await session.flush()
    return _summary(row)


async def mark_all_read(
    session: AsyncSession,
    member_id: int,
    *,
    up_to_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Mark every unread notification read (or those up to `up_to_id`, the newest the app has
    shown, so one that arrived meanwhile stays unread); how many changed."""
    stmt = update(Notification).where(
        Notification.member_id == member_id, Notification.read_at.is_(None)
    )
    if up_to_id is not None:
        stmt = stmt.where(Notification.id <= up_to_id)
    result = await session.execute(stmt.values(read_at=now or utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _preference_read(row: NotificationPreference | None) -> NotificationPreferenceRead:
    if row is None:
        return NotificationPreferenceRead(
            muted_kinds=[], quiet_start=None, quiet_end=None, is_sms_preferred=False
        )
    return NotificationPreferenceRead(
        muted_kinds=[NoticeKind(kind) for kind in row.muted_kinds if kind in _KINDS],
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        is_sms_preferred=row.is_sms_preferred,
    )


async def get_preferences(session: AsyncSession, member_id: int) -> NotificationPreferenceRead:
    return _preference_read(await session.get(NotificationPreference, member_id))


async def update_preferences(
    session: AsyncSession,
    member_id: int,
    changes: NotificationPreferenceUpdate,
    *,
    by_member_id: int,
    now: datetime | None = None,
) -> NotificationPreferenceRead:
    """Apply the fields that were sent (`exclude_unset`). `by_member_id` is the member
    themselves, or the secretary acting for a member without a smartphone (the route's guard
    decides who may)."""
    row = await session.get(NotificationPreference, member_id, with_for_update=True)
    if row is None:
        row = NotificationPreference(member_id=member_id, muted_kinds=[], is_sms_preferred=False)
        session.add(row)
    fields = changes.model_dump(exclude_unset=True)
    if "muted_kinds" in fields:
        muted = [str(kind) for kind in changes.muted_kinds or []]
        # Account notices (a new login, a lock) always go out.
        row.muted_kinds = sorted(set(muted) - {str(NoticeKind.ACCOUNT)})
    if "quiet_start" in fields:
        row.quiet_start = changes.quiet_start
    if "quiet_end" in fields:
        row.quiet_end = changes.quiet_end
    if (row.quiet_start is None) != (row.quiet_end is None):
        raise Unprocessable(
            "Cần đặt cả giờ bắt đầu và giờ kết thúc của khoảng yên lặng.",
            code="notification.quiet_hours_incomplete",
        )
    if "is_sms_preferred" in fields and changes.is_sms_preferred is not None:
        row.is_sms_preferred = changes.is_sms_preferred
    row.updated_at = now or utcnow()
    row.updated_by_id = by_member_id
    await session.flush()
    return _preference_read(row)


async def set_sms_preferred(
    session: AsyncSession, member_id: int, value: bool, *, by_member_id: int
) -> NotificationPreferenceRead:
    """The "reach me by SMS" flag, e.g. set by a secretary for a member without a smartphone."""
    return await update_preferences(
        session,
        member_id,
        NotificationPreferenceUpdate(is_sms_preferred=value),
        by_member_id=by_member_id,
    )
