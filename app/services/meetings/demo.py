"""Meetings of the demo province: in the demo secretary's branch, last month's closed meeting
(attendance, an excuse, a passed motion, minutes, a rating, a task) and tomorrow evening's
announced meeting (summoned members notified, reminders scheduled), so the README's first
command shows the whole flow."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.config import RulesSettings
from app.models import (
    Attendance,
    CheckInMethod,
    Document,
    DocumentStatus,
    Meeting,
    MeetingAttendee,
    MeetingComment,
    MeetingDocument,
    MeetingStatus,
    Member,
    MemberStatus,
    Motion,
    MotionStatus,
    MotionVote,
    Org,
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
        # The agenda's resolution to study beforehand: the demo's published documents that
        # reach the branch (its own, or a committee's above it).
        branch_path = await session.scalar(select(Org.path).where(Org.id == secretary.branch_id))
        reaching = (
            await session.scalars(
                select(Document.id)
                .join(Org, Org.id == Document.org_id)
                .where(
                    Document.status == DocumentStatus.PUBLISHED,
                    literal(branch_path or "").startswith(Org.path),
                )
                .order_by(Document.id)
                .limit(2)
            )
        ).all()
        session.add_all(
            MeetingDocument(meeting_id=upcoming.id, document_id=document_id)
            for document_id in reaching
        )
    return 2


# --- the generated province ------------------------------------------------------------------

PAST_MONTHS = 3  # closed meetings per branch before the upcoming one
MEETING_COLUMNS = (
    "id",
    "org_id",
    "kind",
    "status",
    "title",
    "starts_at",
    "ends_at",
    "agenda",
    "qr_secret",
    "announced_at",
    "started_at",
    "closed_at",
    "rating",
    "created_at",
    "updated_at",
    "version",
)
ATTENDEE_COLUMNS = (
    "meeting_id",
    "member_id",
    "member_status",
    "is_exempt",
    "attendance",
    "checked_in_at",
    "method",
    "updated_at",
    "is_offline",
)


async def seed_province_meetings(conn: AsyncConnection, province: Any) -> int:
    """Every branch's meetings in the generated province (`province.AREA_SEEDERS`): the last
    PAST_MONTHS monthly meetings, closed (about 85% present, 8% excused, the rest absent; exempt
    members summoned but not expected) and next week's, announced with everyone pending. Written
    with COPY on PostgreSQL in the province's transaction. Returns the rows written."""
    from app.services.province import copy_rows

    rng = random.Random(province.seed + 11)  # noqa: S311 - generated data, not secrets
    now = utcnow()
    postgres = conn.dialect.name == "postgresql"
    next_id = int(await conn.scalar(select(func.coalesce(func.max(Meeting.id), 0))) or 0) + 1
    members: dict[int, list[tuple[int, str, bool]]] = {}
    for member_id, branch_id, status, is_exempt in await conn.execute(
        select(Member.id, Member.branch_id, Member.status, Member.is_exempt).where(
            Member.id >= province.first_member_id
        )
    ):
        members.setdefault(branch_id, []).append((member_id, status, is_exempt))
    meetings: list[tuple[Any, ...]] = []
    attendees: list[tuple[Any, ...]] = []
    written = 0

    async def flush(final: bool = False) -> None:
        nonlocal written
        if final or len(attendees) >= 20_000:
            await copy_rows(conn, cast(Table, Meeting.__table__), MEETING_COLUMNS, meetings)
            await copy_rows(
                conn, cast(Table, MeetingAttendee.__table__), ATTENDEE_COLUMNS, attendees
            )
            written += len(meetings) + len(attendees)
            meetings.clear()
            attendees.clear()

    for branch in province.branches:
        summoned = members.get(branch.id, [])
        for months_ago in range(PAST_MONTHS, -1, -1):
            starts = (now - timedelta(days=30 * months_ago - 7)).replace(
                hour=12, minute=0, second=0, microsecond=0
            )
            closed = months_ago > 0
            meeting_id, next_id = next_id, next_id + 1
            meetings.append(
                (
                    meeting_id,
                    branch.id,
                    "regular",
                    MeetingStatus.CLOSED if closed else MeetingStatus.ANNOUNCED,
                    f"Sinh hoạt chi bộ tháng {starts.month}/{starts.year}",
                    starts,
                    starts + timedelta(hours=2),
                    AGENDA,
                    secrets.token_hex(32),
                    starts - timedelta(days=5),
                    starts if closed else None,
                    starts + timedelta(hours=2) if closed else None,
                    rng.choice(("good", "good", "fair", "average")) if closed else None,
                    starts - timedelta(days=6),
                    starts - timedelta(days=5),
                    1,
                )
            )
            for member_id, status, is_exempt in summoned:
                attendance, checked_in, method = Attendance.PENDING, None, None
                if closed:
                    draw = rng.random()
                    if draw < 0.85:
                        attendance, checked_in = Attendance.PRESENT, starts + timedelta(minutes=5)
                        method = CheckInMethod.QR if draw < 0.6 else CheckInMethod.APP
                    elif draw < 0.93 or is_exempt:
                        attendance = Attendance.EXCUSED
                    else:
                        attendance = Attendance.ABSENT
                attendees.append(
                    (
                        meeting_id,
                        member_id,
                        status,
                        is_exempt,
                        attendance,
                        checked_in,
                        method,
                        starts,
                        False,
                    )
                )
        await flush()
    await flush(final=True)
    if postgres:
        await conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('meeting', 'id'), "
                "(SELECT coalesce(max(id), 1) FROM meeting))"
            )
        )
    return written
