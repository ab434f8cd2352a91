"""Scheduled notices with a hand-moved clock: schedule, move, cancel, catch-up after downtime
(late-but-useful notices go, stale ones are dropped), and a notice scheduled again after it went."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import ManualClock
from app.models import Job, JobStatus, Notice, NoticeKind, NoticeStatus, Notification
from app.services import notices
from app.services.notices import Audience
from app.worker.runner import Worker
from tests.factories import Tree

KEY = "meeting:42:reminder:day-before"


async def _inbox(session: AsyncSession, member_id: int) -> list[str]:
    rows = await session.scalars(
        select(Notification.title)
        .where(Notification.member_id == member_id)
        .order_by(Notification.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def _schedule(
    session: AsyncSession,
    tree: Tree,
    clock: ManualClock,
    *,
    hours: float,
    title: str = "Nhắc lịch sinh hoạt chi bộ",
    expires_in_hours: float | None = None,
) -> Notice:
    at = clock.now() + timedelta(hours=hours)
    expires = (
        clock.now() + timedelta(hours=expires_in_hours) if expires_in_hours is not None else None
    )
    notice = await notices.schedule_notice(
        session,
        KEY,
        at=at,
        expires_at=expires,
        kind=NoticeKind.MEETING_REMINDER,
        title=title,
        body="Chi bộ Khu phố 1 sinh hoạt lúc 19:30 ngày mai.",
        data={"meeting_id": 42},
        audience=Audience(member_ids=[tree.member.id, tree.secretary.id]),
        now=clock.now(),
    )
    await session.commit()
    return notice


async def test_a_scheduled_notice_goes_out_at_its_time_and_once(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    await _schedule(session, tree, clock, hours=24)
    clock.advance(hours=23, minutes=59)
    assert await worker.run_until_idle() == 0
    assert await _inbox(session, tree.member.id) == []
    clock.advance(minutes=1)
    assert await worker.run_until_idle() == 2  # the fan-out, then the one chunk
    assert await _inbox(session, tree.member.id) == ["Nhắc lịch sinh hoạt chi bộ"]
    assert await _inbox(session, tree.secretary.id) == ["Nhắc lịch sinh hoạt chi bộ"]
    assert await _inbox(session, tree.teacher.id) == []
    clock.advance(days=2)
    assert await worker.run_until_idle() == 0
    assert len(await _inbox(session, tree.member.id)) == 1


async def test_a_moved_notice_goes_at_the_new_time(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    await _schedule(session, tree, clock, hours=2)
    assert await notices.move_notice(session, KEY, at=clock.now() + timedelta(hours=5))
    await session.commit()
    clock.advance(hours=2)
    await worker.run_until_idle()
    assert await _inbox(session, tree.member.id) == []
    clock.advance(hours=3)
    await worker.run_until_idle()
    assert len(await _inbox(session, tree.member.id)) == 1


async def test_scheduling_the_same_key_again_replaces_the_pending_notice(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    first = await _schedule(session, tree, clock, hours=2, title="Họp lúc 19:00")
    second = await _schedule(session, tree, clock, hours=3, title="Họp lúc 20:00 (đổi giờ)")
    assert second.id == first.id
    assert await session.scalar(select(func.count()).select_from(Job)) == 1
    clock.advance(hours=3)
    await worker.run_until_idle()
    assert await _inbox(session, tree.member.id) == ["Họp lúc 20:00 (đổi giờ)"]


async def test_a_cancelled_notice_never_goes(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    notice = await _schedule(session, tree, clock, hours=1)
    assert await notices.cancel_notice(session, KEY, now=clock.now())
    await session.commit()
    clock.advance(days=1)
    assert await worker.run_until_idle() == 0
    assert await _inbox(session, tree.member.id) == []
    await session.refresh(notice)
    assert notice.status == NoticeStatus.CANCELLED
    assert not await notices.cancel_notice(session, "no-such-key")


async def test_after_downtime_a_still_useful_notice_goes_late(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    await _schedule(session, tree, clock, hours=1, expires_in_hours=12)
    clock.advance(hours=5)  # every worker was down for hours
    await worker.run_until_idle()
    assert len(await _inbox(session, tree.member.id)) == 1


async def test_after_downtime_a_stale_notice_is_dropped(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    notice = await _schedule(session, tree, clock, hours=1, expires_in_hours=2)
    clock.advance(hours=3)  # the meeting has started: a reminder now is noise
    await worker.run_until_idle()
    assert await _inbox(session, tree.member.id) == []
    job = await session.scalar(select(Job).where(Job.key == KEY))
    assert job is not None
    await session.refresh(job)
    assert job.status == JobStatus.EXPIRED
    await session.refresh(notice)
    assert notice.status == NoticeStatus.PENDING  # never fanned out


async def test_a_notice_scheduled_again_after_it_went_goes_again(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    first = await _schedule(session, tree, clock, hours=1, title="Họp ngày 15")
    clock.advance(hours=1)
    await worker.run_until_idle()
    # The meeting moved to a later day after its reminder was sent.
    second = await _schedule(session, tree, clock, hours=24, title="Họp dời sang ngày 16")
    assert second.id != first.id
    clock.advance(hours=24)
    await worker.run_until_idle()
    assert await _inbox(session, tree.member.id) == ["Họp ngày 15", "Họp dời sang ngày 16"]


@pytest.mark.parametrize("audience", ["empty", "no_title"])
async def test_a_notice_needs_an_audience_and_a_title(
    session: AsyncSession, tree: Tree, audience: str
) -> None:
    from app.core.errors import Unprocessable

    with pytest.raises(Unprocessable):
        await notices.notify(
            session,
            kind=NoticeKind.GENERAL,
            title="" if audience == "no_title" else "Thông báo",
            body="",
            audience=Audience() if audience == "empty" else Audience(org_id=tree.p.id),
        )
