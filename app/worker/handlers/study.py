"""Study reminders.

- `study.closing`: scheduled when a quiz or survey is created, for the day before it closes;
  reminds the members of its org's subtree who have not taken (answered) it yet.
- `study.unit_totals` (recurring, `WORKER__STUDY_TOTALS_EVERY_S`): each org's points and eligible
  members for the leaderboards by unit.
- `study.behind_target` (recurring, monthly): a gentle note to members whose points this year
  are behind the target pro rata (e.g. below 100 of 200 at the start of July).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Member,
    NoticeKind,
    Org,
    PointBalance,
    Quiz,
    QuizAttempt,
    Survey,
    SurveyParticipation,
)
from app.services import leaderboards, notices
from app.services import rules as rule_service
from app.services.access import subtree_range
from app.services.notices import Audience
from app.services.study import BEHIND_TARGET_JOB, CLOSING_JOB, UNIT_TOTALS_JOB
from app.worker.registry import JobContext, Later, PermanentError, registry

log = logging.getLogger("app.worker.study")

CHUNK = 50_000  # members listed in one notice (notices take up to 100,000)


async def _notify_members(ctx: JobContext, member_ids: list[int], **notice: Any) -> int:
    for start in range(0, len(member_ids), CHUNK):
        async with ctx.db.write.begin() as session:
            await notices.notify(
                session,
                audience=Audience(member_ids=member_ids[start : start + CHUNK]),
                now=ctx.now(),
                **notice,
            )
    return len(member_ids)


@registry.handler(CLOSING_JOB)
async def remind_closing(ctx: JobContext) -> None:
    kind, object_id = ctx.payload.get("kind"), ctx.payload.get("id")
    if kind not in ("quiz", "survey") or not isinstance(object_id, int):
        raise PermanentError(f"bad payload {ctx.payload!r}")
    async with ctx.db.read() as session:
        item: Quiz | Survey | None = await session.get(
            Quiz if kind == "quiz" else Survey, object_id
        )
        if item is None:
            return
        path = await session.scalar(select(Org.path).where(Org.id == item.org_id))
        if path is None or item.closes_at <= ctx.now():
            return
        lo, hi = subtree_range(path)
        if kind == "quiz":
            done = exists().where(
                QuizAttempt.quiz_id == object_id,
                QuizAttempt.member_id == Member.id,
                QuizAttempt.submitted_at.is_not(None),
            )
        else:
            done = exists().where(
                SurveyParticipation.survey_id == object_id,
                SurveyParticipation.member_id == Member.id,
            )
        member_ids = list(
            (
                await session.scalars(
                    select(Member.id)
                    .where(
                        Member.org_path >= lo,
                        Member.org_path < hi,
                        Member.is_locked.is_(False),
                        ~done,
                    )
                    .order_by(Member.id)
                )
            ).all()
        )
    what = "bài kiểm tra" if kind == "quiz" else "khảo sát"
    sent = await _notify_members(
        ctx,
        member_ids,
        kind=NoticeKind.STUDY,
        title=f"Ngày mai đóng {what}: {item.title}",
        body=f"Đồng chí chưa hoàn thành {what} này.",
        data={f"{kind}_id": object_id},
        expires_at=item.closes_at,
    )
    log.info("closing reminder sent", extra={"kind": kind, "id": object_id, "members": sent})


def _next_month_start(now: datetime, timezone: str) -> datetime:
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, 9, 0, tzinfo=zone).astimezone(ZoneInfo("UTC"))


async def members_behind(
    session: AsyncSession, *, timezone: str, target: int, now: datetime
) -> list[int]:
    """Members (not exempt, not locked) below the target pro rata for the months gone by."""
    local = now.astimezone(ZoneInfo(timezone))
    expected = target * (local.month - 1) // 12
    if expected <= 0:
        return []
    points = (
        select(PointBalance.points)
        .where(and_(PointBalance.member_id == Member.id, PointBalance.year == local.year))
        .scalar_subquery()
    )
    rows = await session.scalars(
        select(Member.id)
        .where(
            Member.is_locked.is_(False),
            Member.is_exempt.is_(False),
            (points.is_(None)) | (points < expected),
        )
        .order_by(Member.id)
    )
    return list(rows.all())


@registry.handler(UNIT_TOTALS_JOB, recurring=True)
async def refresh_unit_totals(ctx: JobContext) -> Later:
    """Recount the study totals of every org for this year (leaderboards by unit)."""
    now = ctx.now()
    rules = ctx.resources.settings.rules
    year = now.astimezone(ZoneInfo(rules.timezone)).year
    async with ctx.db.write.begin() as session:
        orgs = await leaderboards.refresh_unit_totals(session, year=year)
    return Later(
        now + timedelta(seconds=ctx.resources.settings.worker.study_totals_every_s),
        progress={"last_run": now.isoformat(), "orgs": orgs},
    )


@registry.handler(BEHIND_TARGET_JOB, recurring=True)
async def remind_behind_target(ctx: JobContext) -> Later:
    """Runs at 09:00 local time on the first of each month (the first run only schedules)."""
    now = ctx.now()
    rules = ctx.resources.settings.rules
    progress = ctx.job.progress or {}
    sent = 0
    if progress.get("scheduled"):
        async with ctx.db.read() as session:
            target = (
                await rule_service.current(session, ctx.resources.app_config, rules)
            ).study_points_target
            members = await members_behind(session, timezone=rules.timezone, target=target, now=now)
        sent = await _notify_members(
            ctx,
            members,
            kind=NoticeKind.STUDY,
            title="Cùng tích lũy điểm học tập",
            body=f"Mục tiêu năm nay là {target} điểm: "
            "đọc tài liệu và làm bài kiểm tra để tích lũy thêm.",
            data={"screen": "points"},
            expires_at=now + timedelta(days=7),
        )
    return Later(
        _next_month_start(now, rules.timezone),
        progress={"scheduled": True, "last_run": now.isoformat(), "members": sent},
    )
