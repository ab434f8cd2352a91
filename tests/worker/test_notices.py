"""Notices without push (no Firebase credentials): fan-out of a subtree in chunks, the inbox
written once per member however often a chunk runs, SMS fallback and the daily SMS budget fuse,
preferences (muted kinds, quiet hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.clock import ManualClock
from app.core.config import SmsSettings
from app.integrations.sms import ConsoleSmsGateway
from app.models import Job, JobStatus, NoticeKind, NoticeStatus, NotificationPreference
from app.resources import Resources
from app.services import notices, sms_budget
from app.services.notices import DELIVER_JOB, Audience
from app.services.sms_budget import SmsPurpose
from app.worker import queue
from app.worker.handlers import notices as notice_handlers
from app.worker.runner import Worker
from tests.factories import Tree, make_member
from tests.http import assert_problem
from tests.worker.helpers import deliveries, inbox_counts


@pytest.fixture
def small_chunks(resources: Resources) -> Resources:
    resources.settings = resources.settings.model_copy(
        update={"notify": resources.settings.notify.model_copy(update={"chunk_members": 10})}
    )
    return resources


async def _subtree_ids(session: AsyncSession, tree: Tree) -> set[int]:
    from app.models import Member

    rows = await session.scalars(select(Member.id).where(Member.org_path.like(tree.c1.path + "%")))
    return set(rows)


async def test_a_subtree_notice_reaches_every_member_once_in_chunks(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, small_chunks: Resources
) -> None:
    for n in range(25):
        await make_member(session, tree.b1, full_name=f"Đảng Viên Số {n:02d}")
    notice = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Thông báo của Đảng ủy phường",
        body="Lịch tiếp dân tháng 12.",
        audience=Audience(org_id=tree.c1.id),
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    audience = await _subtree_ids(session, tree)
    assert len(audience) == 35  # the 25 and the canonical tree's 10 members in C1
    counts = await inbox_counts(session, notice.id)
    assert set(counts) == audience
    assert set(counts.values()) == {1}
    chunks = list(await session.scalars(select(Job).where(Job.kind == DELIVER_JOB)))
    assert len(chunks) == 4  # ceil(35 / 10)
    assert all(job.status == JobStatus.DONE for job in chunks)
    # At-least-once: every chunk delivered again changes nothing.
    for job in chunks:
        from app.services import jobs

        await jobs.enqueue(session, DELIVER_JOB, job.payload, now=clock.now())
    await session.commit()
    await worker.run_until_idle()
    assert await inbox_counts(session, notice.id) == counts
    await session.refresh(notice)
    assert notice.status == NoticeStatus.FANNED_OUT


async def test_an_interrupted_fan_out_resumes_without_losing_or_doubling_members(
    session: AsyncSession,
    tree: Tree,
    worker: Worker,
    clock: ManualClock,
    small_chunks: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(25):
        await make_member(session, tree.b2, full_name=f"Đảng Viên Số {n:02d}")
    notice = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Thông báo",
        body="",
        audience=Audience(org_id=tree.c1.id, member_ids=[tree.outsider.id, tree.member.id]),
        now=clock.now(),
    )
    await session.commit()
    monkeypatch.setattr(notice_handlers, "CHUNKS_PER_TRANSACTION", 1)
    saves = 0
    original = queue.save_progress

    async def save_then_stop(*args: Any, **kwargs: Any) -> bool:
        nonlocal saves
        saves += 1
        worker._stopping.set()  # SIGTERM arrives after each transaction
        return await original(*args, **kwargs)

    monkeypatch.setattr(queue, "save_progress", save_then_stop)
    for _ in range(20):
        worker._stopping.clear()
        await worker.run_once()
    assert saves >= 4
    worker._stopping.clear()
    await worker.run_until_idle()
    chunks = list(await session.scalars(select(Job).where(Job.kind == DELIVER_JOB)))
    listed = [member for job in chunks for member in job.payload["member_ids"]]
    expected = await _subtree_ids(session, tree) | {tree.outsider.id}
    assert sorted(set(listed)) == sorted(expected)
    assert len(listed) == len(expected) + 1  # tree.member is in the subtree and the list
    assert set((await inbox_counts(session, notice.id)).values()) == {1}


async def test_notices_are_marked_for_sms_reach_members_without_push(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, sms: ConsoleSmsGateway
) -> None:
    notice = await notices.notify(
        session,
        kind=NoticeKind.MEETING,
        title="Họp chi bộ đột xuất",
        body="19:30 tối nay tại nhà văn hóa.",
        audience=Audience(org_id=tree.b1.id),
        has_sms=True,
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    phones = sorted(message.to for message in sms.sent)
    expected = sorted(
        m.phone
        for m in (tree.member, tree.secretary, tree.deputy, tree.exempt, tree.probationary)
        if m.phone
    )
    assert phones == expected
    assert all(
        message.text.startswith("So tay dang vien: Hop chi bo dot xuat") for message in sms.sent
    )
    rows = await deliveries(session, notice.id)
    assert {row.status for row in rows.values()} == {"sent"}
    # A second run sends nothing more.
    await worker.run_until_idle()
    assert len(sms.sent) == len(expected)


async def test_a_locked_member_gets_the_inbox_row_but_no_sms(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, sms: ConsoleSmsGateway
) -> None:
    locked = await make_member(session, tree.b4, full_name="Trần Văn Khóa", is_locked=True)
    notice = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Thông báo",
        body="",
        audience=Audience(member_ids=[locked.id]),
        has_sms=True,
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    assert await inbox_counts(session, notice.id) == {locked.id: 1}
    assert sms.sent == type(sms.sent)()


async def test_the_sms_budget_stops_notices_at_their_share_and_keeps_otp_going(
    session: AsyncSession,
    tree: Tree,
    worker: Worker,
    clock: ManualClock,
    sms: ConsoleSmsGateway,
    resources: Resources,
    client: httpx.AsyncClient,
) -> None:
    budget = SmsSettings(daily_budget=5, notice_share=0.8)  # notices 4, OTP 1
    resources.settings = resources.settings.model_copy(update={"sms": budget})
    resources.auth.sms_settings = budget
    for n in range(6):
        await make_member(session, tree.b4, full_name=f"Người Nhận {n}")
    notice = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Thông báo khẩn",
        body="",
        audience=Audience(org_id=tree.b4.id),  # 3 + 6 members
        has_sms=True,
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    assert len(sms.sent) == 4
    rows = await deliveries(session, notice.id)
    statuses = sorted(row.status for row in rows.values())
    assert statuses == ["sent"] * 4 + ["skipped"] * 5
    assert {row.last_error for row in rows.values() if row.status == "skipped"} == {"sms budget"}
    day = sms_budget.local_day(clock.now(), "Asia/Ho_Chi_Minh")
    assert await sms_budget.used(session, SmsPurpose.NOTICE, day) == 4
    assert metrics.SMS_NOTICE_FUSE._value.get() == 1
    # Logins still get their code: the OTP share is untouched by notices. But only its share.
    first = await client.post("/api/v1/auth/otp/request", json={"phone": tree.member.phone})
    assert first.status_code == 202, first.text
    second = await client.post("/api/v1/auth/otp/request", json={"phone": tree.teacher.phone})
    assert_problem(second, 503, "sms.budget_exhausted")
    unknown = await client.post("/api/v1/auth/otp/request", json={"phone": "0987 654 321"})
    assert unknown.status_code == 503  # the same answer for numbers not on the roster


async def test_a_muted_kind_reaches_the_inbox_but_not_the_phone(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, sms: ConsoleSmsGateway
) -> None:
    session.add(
        NotificationPreference(
            member_id=tree.member.id,
            muted_kinds=[str(NoticeKind.ARTICLE)],
            is_sms_preferred=True,
        )
    )
    notice = await notices.notify(
        session,
        kind=NoticeKind.ARTICLE,
        title="Tin mới",
        body="",
        audience=Audience(member_ids=[tree.member.id, tree.secretary.id]),
        has_sms=True,
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    assert set(await inbox_counts(session, notice.id)) == {tree.member.id, tree.secretary.id}
    assert [message.to for message in sms.sent] == [tree.secretary.phone]


async def test_quiet_hours_hold_non_urgent_notices_until_they_end(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, sms: ConsoleSmsGateway
) -> None:
    clock.set(datetime(2026, 12, 1, 16, 0, tzinfo=UTC))  # 23:00 in Hà Nội
    session.add(
        NotificationPreference(
            member_id=tree.member.id,
            muted_kinds=[],
            quiet_start=time(22, 0),
            quiet_end=time(6, 30),
        )
    )
    audience = Audience(member_ids=[tree.member.id])
    quiet = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Thường",
        body="",
        audience=audience,
        has_sms=True,
        now=clock.now(),
    )
    urgent = await notices.notify(
        session,
        kind=NoticeKind.GENERAL,
        title="Khẩn",
        body="",
        audience=audience,
        has_sms=True,
        is_urgent=True,
        now=clock.now(),
    )
    await session.commit()
    await worker.run_until_idle()
    assert [message.text for message in sms.sent] == [
        "So tay dang vien: Khan. Mo ung dung de xem chi tiet."
    ]
    assert set(await inbox_counts(session, quiet.id)) == {tree.member.id}  # the inbox at once
    assert (await deliveries(session, urgent.id))[("sms", tree.member.id)].status == "sent"
    held = (await deliveries(session, quiet.id))[("sms", tree.member.id)]
    assert held.next_attempt_at == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 06:30 local
    clock.set(datetime(2026, 12, 1, 23, 29, tzinfo=UTC))
    await worker.run_until_idle()
    assert len(sms.sent) == 1
    clock.set(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    await worker.run_until_idle()
    assert len(sms.sent) == 2


def test_quiet_hours_that_wrap_midnight() -> None:
    tz = "Asia/Ho_Chi_Minh"
    start, end = time(22, 0), time(6, 0)
    at = notice_handlers.quiet_until
    assert at(datetime(2026, 12, 1, 14, 0, tzinfo=UTC), start, end, tz) is None  # 21:00
    assert at(datetime(2026, 12, 1, 15, 0, tzinfo=UTC), start, end, tz) == datetime(
        2026, 12, 1, 23, 0, tzinfo=UTC
    )  # 22:00 → 06:00 next day
    assert at(datetime(2026, 12, 1, 20, 0, tzinfo=UTC), start, end, tz) == datetime(
        2026, 12, 1, 23, 0, tzinfo=UTC
    )  # 03:00 → 06:00
    assert at(datetime(2026, 12, 1, 23, 0, tzinfo=UTC), start, end, tz) is None  # 06:00
    assert at(datetime(2026, 12, 1, 5, 0, tzinfo=UTC), time(12, 0), time(13, 30), tz) == (
        datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    )


def test_sms_text_has_no_diacritics() -> None:
    assert notice_handlers.unaccented("Họp Chi bộ Đảng ủy") == "Hop Chi bo Dang uy"
