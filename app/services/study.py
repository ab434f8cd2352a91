"""What quizzes and surveys share: who may take them and when, their newest-first lists, and
their notices: "new" when they open (services.notices), "closes tomorrow" to those who have not
taken them yet, handled by the worker (app/worker/handlers/study.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.core.errors import Conflict, Forbidden, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import NoticeKind
from app.services import access, jobs, notices
from app.services.access import Actor
from app.services.notices import Audience

Kind = Literal["quiz", "survey"]
_NAMES = {"quiz": "Bài kiểm tra", "survey": "Khảo sát"}

CLOSING_JOB = "study.closing"
BEHIND_TARGET_JOB = "study.behind_target"
UNIT_TOTALS_JOB = "study.unit_totals"


async def announce(
    session: AsyncSession,
    kind: Kind,
    object_id: int,
    *,
    org_id: int,
    title: str,
    opens_at: datetime,
    closes_at: datetime,
    created_by_id: int,
    now: datetime,
) -> None:
    """Notify the org's subtree when it opens; remind who has not taken it the day before it
    closes (if it stays open longer than a day)."""
    what = "Bài kiểm tra mới" if kind == "quiz" else "Khảo sát mới"
    zone = ZoneInfo(get_settings().rules.timezone)
    notice: dict[str, Any] = {
        "kind": NoticeKind.STUDY,
        "title": f"{what}: {title}",
        "body": f"Hạn: {closes_at.astimezone(zone).strftime('%d/%m/%Y')}.",
        "data": {f"{kind}_id": object_id},
        "audience": Audience(org_id=org_id),
        "expires_at": closes_at,
        "created_by_id": created_by_id,
    }
    if opens_at <= now:
        await notices.notify(session, now=now, **notice)
    else:
        await notices.schedule_notice(session, f"{kind}:{object_id}:open", at=opens_at, **notice)
    remind_at = closes_at - timedelta(days=1)
    if remind_at > max(now, opens_at):
        await jobs.schedule(
            session,
            f"{kind}:{object_id}:closing",
            CLOSING_JOB,
            {"kind": kind, "id": object_id},
            run_at=remind_at,
            expires_at=closes_at,
            now=now,
        )


def require_taker(actor: Actor, path: str, kind: Kind) -> None:
    """Only members of a branch in the publishing org's subtree take it (a manager above who
    can see it may not take it for another branch)."""
    if not access.in_subtree(actor.branch_path, path):
        raise Forbidden(
            f"{_NAMES[kind]} này dành cho đảng viên của tổ chức khác.", code=f"{kind}.not_eligible"
        )


def require_open(opens_at: datetime, closes_at: datetime, now: datetime, kind: Kind) -> None:
    if now < opens_at:
        raise Conflict(f"{_NAMES[kind]} chưa mở.", code=f"{kind}.not_open")
    if now >= closes_at:
        raise Conflict(f"{_NAMES[kind]} đã đóng.", code=f"{kind}.closed")


def require_future_close(closes_at: datetime, now: datetime, kind: Kind) -> None:
    if closes_at <= now:
        raise Unprocessable("Thời điểm đóng đã qua.", code=f"{kind}.closes_in_past")


async def page_newest(
    session: AsyncSession,
    query: Select[Any],
    id_column: Any,
    *,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """A keyset page of `query`'s rows, newest (highest id) first."""
    if cursor:
        (last_id,) = decode_cursor(cursor, sort, (int,))
        query = query.where(id_column < last_id)
    rows = (await session.execute(query.order_by(id_column.desc()).limit(limit + 1))).all()
    return page_of(list(rows), limit, sort, lambda r: (r.id,))
