"""Meetings of the demo province: in the demo secretary's branch, last month's closed meeting
(attendance, an excuse, a passed motion, minutes, a rating, a task) and tomorrow evening's
announced meeting (summoned members notified, reminders scheduled), so the README's first
command shows the whole flow."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.config import RulesSettings
from app.models import (
    Attendance,
    CheckInMethod,
    Meeting,
    MeetingAttendee,
    MeetingComment,
    MeetingStatus,
    Member,
    MemberStatus,
    Motion,
    MotionStatus,
    MotionVote,
    Task,
    TaskStatus,
)
from app.models.base import utcnow
from app.services.meetings import lifecycle

AGENDA = [
    {"title": "Đánh giá kết quả thực hiện nhiệm vụ tháng trước", "description": None},
    {"title": "Học tập Nghị quyết 57-NQ/TW", "description": "Đồng chí bí thư quán triệt"},
    {"title": "Triển khai nhiệm vụ tháng tới", "description": None},
]


def _local(day_offset: int, at: time, rules: RulesSettings) -> datetime:
    zone = ZoneInfo(rules.timezone)
    today = utcnow().astimezone(zone).date()
    return datetime.combine(today + timedelta(days=day_offset), at, tzinfo=zone)


async def seed_demo_meetings(
    engine: AsyncEngine, secretary_phone: str, rules: RulesSettings | None = None
) -> int:
    """Both demo meetings in the branch of the secretary with `secretary_phone`; returns how
    many meetings were written (0 when that secretary does not exist)."""
    rules = rules or RulesSettings()
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        secretary = await session.scalar(select(Member).where(Member.phone == secretary_phone))
        if secretary is None:
            return 0
        members = list(
            (
                await session.scalars(
                    select(Member)
                    .where(Member.branch_id == secretary.branch_id)
                    .order_by(Member.id)
                )
            ).all()
        )
        past_start = _local(-30, time(19, 30), rules)
        past = Meeting(
            org_id=secretary.branch_id,
            kind="regular",
            status=MeetingStatus.CLOSED,
            title=f"Sinh hoạt chi bộ định kỳ tháng {past_start.month}/{past_start.year}",
            starts_at=past_start,
            ends_at=past_start + timedelta(hours=1, minutes=30),
            place="Nhà văn hóa Khu phố 1",
            agenda=AGENDA,
            qr_secret=secrets.token_hex(32),
            created_by_id=secretary.id,
            announced_at=past_start - timedelta(days=10),
            started_at=past_start,
            closed_at=past_start + timedelta(hours=1, minutes=30),
            minutes_text="Biên bản sinh hoạt chi bộ: chi bộ thống nhất nghị quyết tháng.",
            minutes_at=past_start + timedelta(hours=2),
            rating="good",
        )
        session.add(past)
        await session.flush()
        voters: list[int] = []
        for index, m in enumerate(members):
            if m.is_exempt:
                attendance = Attendance.PENDING
            elif index % 9 == 4:
                attendance = Attendance.EXCUSED
            elif index % 11 == 6:
                attendance = Attendance.ABSENT
            else:
                attendance = Attendance.PRESENT
            session.add(
                MeetingAttendee(
                    meeting_id=past.id,
                    member_id=m.id,
                    member_status=m.status,
                    is_exempt=m.is_exempt,
                    attendance=attendance,
                    excuse_reason="Đi công tác" if attendance == Attendance.EXCUSED else None,
                    checked_in_at=past_start if attendance == Attendance.PRESENT else None,
                    method=CheckInMethod.QR if attendance == Attendance.PRESENT else None,
                    updated_at=past_start,
                )
            )
            if attendance == Attendance.PRESENT and m.status == MemberStatus.FULL:
                voters.append(m.id)
        await session.flush()
        motion = Motion(
            meeting_id=past.id,
            text="Thông qua nghị quyết sinh hoạt chi bộ tháng",
            is_secret=False,
            status=MotionStatus.CLOSED,
            opened_by_id=secretary.id,
            opened_at=past_start + timedelta(hours=1),
            closed_at=past_start + timedelta(hours=1, minutes=5),
            is_show_of_hands=False,
            yes_count=len(voters),
            no_count=0,
            abstain_count=0,
            eligible_count=sum(
                1 for m in members if m.status == MemberStatus.FULL and not m.is_exempt
            ),
            is_quorate=True,
            has_passed=True,
        )
        session.add(motion)
        await session.flush()
        for voter in voters:
            session.add(MotionVote(motion_id=motion.id, member_id=voter, choice="yes"))
        session.add(
            MeetingComment(
                meeting_id=past.id,
                member_id=members[-1].id,
                agenda_item=1,
                is_written_opinion=True,
                body="Tôi vắng vì đi công tác, xin gửi ý kiến bằng văn bản: tán thành.",
                created_at=past_start - timedelta(days=1),
            )
        )
        assignee = next((m for m in members if m.id != secretary.id), secretary)
        session.add(
            Task(
                org_id=secretary.branch_id,
                meeting_id=past.id,
                assignee_id=assignee.id,
                title="Nắm tình hình dư luận khu dân cư, báo cáo tại kỳ họp tới",
                due_date=(utcnow() + timedelta(days=7)).date(),
                status=TaskStatus.OPEN,
                created_by_id=secretary.id,
            )
        )
        next_start = _local(1, time(19, 30), rules)
        upcoming = Meeting(
            org_id=secretary.branch_id,
            kind="thematic",
            status=MeetingStatus.DRAFT,
            title="Sinh hoạt chuyên đề: chuyển đổi số trong công tác đảng",
            starts_at=next_start,
            ends_at=next_start + timedelta(hours=1, minutes=30),
            place="Nhà văn hóa Khu phố 1",
            agenda=AGENDA,
            qr_secret=secrets.token_hex(32),
            created_by_id=secretary.id,
        )
        session.add(upcoming)
        await session.flush()
        upcoming.status = MeetingStatus.ANNOUNCED
        upcoming.announced_at = utcnow()
        await session.flush()
        await lifecycle.refresh_snapshot(session, upcoming)
        await lifecycle.schedule_reminders(session, upcoming, rules)
    return 2
