"""Notices of quizzes and surveys: "new" when they open (services.notices), "closes tomorrow"
to those who have not taken them yet, handled by the worker (app/worker/handlers/study.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import get_settings
from app.models import NoticeKind
from app.services import jobs, notices
from app.services.notices import Audience

CLOSING_JOB = "study.closing"
BEHIND_TARGET_JOB = "study.behind_target"
UNIT_TOTALS_JOB = "study.unit_totals"


async def announce(
    session: AsyncSession,
    kind: Literal["quiz", "survey"],
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
