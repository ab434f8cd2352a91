"""The deployment-wide daily SMS budget: a cost fuse shared by OTP codes and notices.

`SMS__DAILY_BUDGET` SMS a local day (0 = no limit). Notices may use `SMS__NOTICE_SHARE` of it
(80% by default) and stop there; OTP codes keep the rest. So a flood of notices never blocks
logins, and an SMS pumper requesting codes cannot spend the notices' share. Usage is counted in
`sms_usage` (one row per day and purpose), charged before sending: a send that fails after the
charge still counts, which errs on the side of the bill.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import SmsSettings
from app.core.db import dialect_insert
from app.models import SmsUsage


class SmsPurpose(StrEnum):
    OTP = "otp"
    NOTICE = "notice"


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def limit_for(settings: SmsSettings, purpose: SmsPurpose) -> int | None:
    """Today's limit of `purpose`, None for no limit."""
    if not settings.daily_budget:
        return None
    notices = int(settings.daily_budget * settings.notice_share)
    return notices if purpose is SmsPurpose.NOTICE else settings.daily_budget - notices


async def used(session: AsyncSession, purpose: SmsPurpose, day: date) -> int:
    count = await session.scalar(
        select(SmsUsage.count).where(SmsUsage.day == day, SmsUsage.purpose == purpose)
    )
    return int(count or 0)


async def remaining(
    session: AsyncSession,
    settings: SmsSettings,
    purpose: SmsPurpose,
    *,
    now: datetime,
    timezone: str,
) -> int | None:
    limit = limit_for(settings, purpose)
    if limit is None:
        return None
    return max(0, limit - await used(session, purpose, local_day(now, timezone)))


async def charge(
    session: AsyncSession,
    settings: SmsSettings,
    purpose: SmsPurpose,
    count: int,
    *,
    now: datetime,
    timezone: str,
) -> int:
    """Take up to `count` SMS from today's share of `purpose`; how many were granted. The day's
    row is locked until the caller's transaction ends, so concurrent charges never overspend."""
    if count <= 0:
        return 0
    day = local_day(now, timezone)
    await session.execute(
        dialect_insert(session, SmsUsage)
        .values(day=day, purpose=str(purpose), count=0)
        .on_conflict_do_nothing(index_elements=["day", "purpose"])
    )
    current = int(
        await session.scalar(
            select(SmsUsage.count)
            .where(SmsUsage.day == day, SmsUsage.purpose == purpose)
            .with_for_update()
        )
        or 0
    )
    limit = limit_for(settings, purpose)
    granted = count if limit is None else max(0, min(count, limit - current))
    if granted:
        await session.execute(
            update(SmsUsage)
            .where(SmsUsage.day == day, SmsUsage.purpose == purpose)
            .values(count=SmsUsage.count + granted)
        )
    return granted
