"""Meetings of the demo province: in the demo secretary's branch, last month's closed meeting
(attendance, an excuse, a passed motion, minutes, a rating, a task) and tomorrow evening's
announced meeting (reminders scheduled, a guest from the level above invited), so the README's
first command shows the whole flow."""

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
    AttendeeKind,
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
    Role,
    RoleGrant,
    Task,
    TaskStatus,
)
from app.models.base import utcnow
from app.services.meetings import guests, lifecycle

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
        branch_path = await session.scalar(select(Org.path).where(Org.id == secretary.branch_id))
        # A guest from the level above (đại biểu cấp trên) comes to guide the thematic meeting:
        # the nearest upper-level officer, invited as the secretary would.
        officers = await guests.upper_level_officers(
            session, secretary.branch_id, branch_path or ""
        )
        if officers:
            guest = await session.get(Member, officers[0])
            assert guest is not None  # noqa: S101 - just selected
            session.add(
                MeetingAttendee(
                    meeting_id=upcoming.id,
                    member_id=guest.id,
                    kind=AttendeeKind.GUEST,
                    member_status=guest.status,
                    is_exempt=guest.is_exempt,
                    attendance=Attendance.PENDING,
                    updated_at=utcnow(),
                )
            )
            await session.flush()
            await lifecycle.invite_guests(
                session, upcoming, [guest.id], rules, created_by_id=secretary.id
            )
        await lifecycle.schedule_reminders(session, upcoming, rules)
        # The agenda's resolution to study beforehand: the demo's published documents that
        # reach the branch (its own, or a committee's above it).
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

PAST_MONTHS = 12  # a year of monthly meetings before the upcoming one
# How branches took to the app: most hold every meeting in it, some started during the year, a
# few only in the last month or two (their earlier meetings were on paper, not here).
ADOPTION = ((0.85, (12, 12)), (0.10, (3, 9)), (0.05, (1, 2)))
# Minutes habits: (share of branches, chance a meeting's minutes are late, chance they are
# missing); on time = within `rules.minutes_due_h` (48 h) of the close.
MINUTES_HABITS = ((0.75, 0.05, 0.0), (0.20, 0.6, 0.05), (0.05, 0.5, 0.4))
RATINGS = (("good", 0.55), ("fair", 0.30), ("average", 0.12), ("poor", 0.03))
OFTEN_ABSENT = 0.04  # members who miss many meetings (flagged at 3 unexcused absences a year)
SHOW_OF_HANDS = 0.30  # branches that count their votes by hand (counts only, no ballots)
EXCUSES = ("Đi công tác", "Ốm, điều trị tại bệnh viện", "Việc gia đình", "Trực cơ quan")
TASKS = (
    "Nắm tình hình dư luận khu dân cư, báo cáo tại kỳ họp tới",
    "Vận động hội viên tham gia phong trào thi đua của phường",
    "Hoàn thành thu nộp đảng phí quý",
    "Chuẩn bị nội dung sinh hoạt chuyên đề tháng tới",
    "Rà soát, cập nhật thông tin đảng viên trên ứng dụng",
)
COMMENTS = (
    "Tán thành nội dung dự thảo nghị quyết.",
    "Đề nghị bổ sung chỉ tiêu về chuyển đổi số trong nhiệm vụ tháng tới.",
    "Cần phân công cụ thể người phụ trách từng nhiệm vụ.",
    "Đề nghị chi ủy đôn đốc việc nộp đảng phí đúng hạn.",
)
MEETING_COLUMNS = (
    "id",
    "org_id",
    "org_path",
    "kind",
    "status",
    "title",
    "starts_at",
    "ends_at",
    "place",
    "agenda",
    "qr_secret",
    "created_by_id",
    "announced_at",
    "started_at",
    "closed_at",
    "minutes_text",
    "minutes_at",
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
    "excuse_reason",
    "checked_in_at",
    "method",
    "recorded_by_id",
    "updated_at",
    "is_offline",
)
MOTION_COLUMNS = (
    "id",
    "meeting_id",
    "text",
    "is_secret",
    "status",
    "opened_by_id",
    "opened_at",
    "closed_at",
    "is_show_of_hands",
    "yes_count",
    "no_count",
    "abstain_count",
    "eligible_count",
    "is_quorate",
    "has_passed",
)
VOTE_COLUMNS = ("motion_id", "member_id", "choice")
TASK_COLUMNS = (
    "org_id",
    "meeting_id",
    "assignee_id",
    "title",
    "due_date",
    "status",
    "progress",
    "created_by_id",
    "version",
    "created_at",
    "updated_at",
)
COMMENT_COLUMNS = (
    "meeting_id",
    "member_id",
    "agenda_item",
    "is_written_opinion",
    "body",
    "created_at",
    "is_offline",
)
_FLUSH_ROWS = 20_000
_CHECKIN_OFFSETS = tuple(timedelta(minutes=m) for m in range(-20, 16))
_PRESENT, _EXCUSED, _ABSENT, _PENDING = (
    Attendance.PRESENT.value,
    Attendance.EXCUSED.value,
    Attendance.ABSENT.value,
    Attendance.PENDING.value,
)
_PROXY, _QR, _APP = CheckInMethod.PROXY.value, CheckInMethod.QR.value, CheckInMethod.APP.value


def _pick(rng: random.Random, shares: Any) -> Any:
    draw, total = rng.random(), 0.0
    for share, value in shares:
        total += share
        if draw < total:
            return value
    return shares[-1][1]


class _ProvinceMeetings:
    """The rows of every branch's year of meetings, flushed with COPY as they grow."""

    def __init__(self, conn: AsyncConnection, rng: random.Random, next_ids: tuple[int, int]):
        self.conn = conn
        self.rng = rng
        self.next_meeting, self.next_motion = next_ids
        self.now = utcnow()
        self.today = self.now.date()
        self.written = 0
        self.rows: dict[str, list[tuple[Any, ...]]] = {
            "meeting": [],
            "meeting_attendee": [],
            "motion": [],
            "motion_vote": [],
            "task": [],
            "meeting_comment": [],
        }

    async def flush(self, final: bool = False) -> None:
        from app.services.province import copy_rows

        if not final and len(self.rows["meeting_attendee"]) < _FLUSH_ROWS:
            return
        tables = (
            (Meeting, MEETING_COLUMNS),
            (MeetingAttendee, ATTENDEE_COLUMNS),
            (Motion, MOTION_COLUMNS),
            (MotionVote, VOTE_COLUMNS),
            (Task, TASK_COLUMNS),
            (MeetingComment, COMMENT_COLUMNS),
        )
        for model, columns in tables:  # parents first: the foreign keys are checked per row
            table = cast(Table, model.__table__)
            rows = self.rows[table.name]
            await copy_rows(self.conn, table, columns, rows)
            self.written += len(rows)
            rows.clear()

    def branch(
        self,
        branch_id: int,
        branch_path: str,
        members: list[tuple[int, str, bool, bool]],
        secretary: int | None,
    ) -> None:
        """A branch's year: its closed meetings since it took to the app, and the next one."""
        rng = self.rng
        first = rng.randint(*_pick(rng, ADOPTION))
        late, missing = _pick(rng, [(share, (late, gone)) for share, late, gone in MINUTES_HABITS])
        by_hand = rng.random() < SHOW_OF_HANDS
        absent_often = {
            m for m, _s, exempt, _p in members if not exempt and rng.random() < OFTEN_ABSENT
        }
        for months_ago in range(first, -1, -1):
            starts = (self.now - timedelta(days=30 * months_ago - 7)).replace(
                hour=12, minute=0, second=0, microsecond=0
            )
            self._meeting(
                branch_id,
                branch_path,
                members,
                secretary,
                starts,
                months_ago > 0,
                late=late,
                missing=missing,
                by_hand=by_hand,
                absent_often=absent_often,
            )

    def _meeting(
        self,
        branch_id: int,
        branch_path: str,
        members: list[tuple[int, str, bool, bool]],
        secretary: int | None,
        starts: datetime,
        closed: bool,
        *,
        late: float,
        missing: float,
        by_hand: bool,
        absent_often: set[int],
    ) -> None:
        rng = self.rng
        meeting_id, self.next_meeting = self.next_meeting, self.next_meeting + 1
        ends = starts + timedelta(hours=2)
        minutes_at = None
        if closed and rng.random() >= missing:
            delay = timedelta(days=rng.uniform(3, 10)) if rng.random() < late else None
            minutes_at = ends + (delay or timedelta(hours=rng.uniform(1, 24)))
            if minutes_at > self.now:
                minutes_at = None  # not uploaded yet
        self.rows["meeting"].append(
            (
                meeting_id,
                branch_id,
                branch_path,
                "regular",
                MeetingStatus.CLOSED if closed else MeetingStatus.ANNOUNCED,
                f"Sinh hoạt chi bộ tháng {starts.month}/{starts.year}",
                starts,
                ends,
                "Hội trường chi bộ",
                AGENDA,
                secrets.token_hex(32),
                secretary,
                starts - timedelta(days=rng.randint(3, 10)),
                starts if closed else None,
                ends if closed else None,
                "Biên bản sinh hoạt chi bộ: chi bộ thống nhất nghị quyết tháng."
                if minutes_at
                else None,
                minutes_at,
                _pick(rng, [(share, r) for r, share in RATINGS]) if closed else None,
                starts - timedelta(days=11),
                ends if closed else starts - timedelta(days=10),
                1,
            )
        )
        voters: list[int] = []
        present: list[int] = []
        excused: list[int] = []
        eligible = 0  # full, non-exempt: the voting members
        summoned_counted = 0  # non-exempt: the quorum's base
        present_counted = 0
        attendees = self.rows["meeting_attendee"]
        # The hot loop (one row per member and meeting): one random draw a member; within its
        # band the same draw, rescaled, picks the check-in minute, the method or the reason.
        rand = rng.random
        offsets = _CHECKIN_OFFSETS
        full = MemberStatus.FULL.value
        for member_id, status, is_exempt, has_phone in members:
            draw = rand()
            if not closed:
                came, excuse = 0.0, 0.0 if is_exempt else 0.02  # excused ahead of the next one
            elif is_exempt:
                came, excuse = 0.2, 0.3  # invited, rarely there, never counted absent
            elif member_id in absent_often:
                came, excuse = 0.45, 0.70
            else:
                came, excuse = 0.90, 0.97
            row: tuple[Any, ...]
            if draw < came:
                band = draw / came
                checked_in = starts + offsets[int(band * len(offsets))]
                how = (band * 997.0) % 1.0
                if not has_phone or how < 0.05:
                    method, by = _PROXY, secretary
                else:
                    method, by = (_QR if how < 0.55 else _APP), None
                row = (
                    meeting_id,
                    member_id,
                    status,
                    is_exempt,
                    _PRESENT,
                    None,
                    checked_in,
                    method,
                    by,
                    checked_in,
                    False,
                )
                present.append(member_id)
                if not is_exempt:
                    present_counted += 1
                    if status == full:
                        voters.append(member_id)
            elif draw < excuse:
                reason = EXCUSES[min(len(EXCUSES) - 1, int((draw - came) / (excuse - came) * 4))]
                row = (
                    meeting_id,
                    member_id,
                    status,
                    is_exempt,
                    _EXCUSED,
                    reason,
                    None,
                    None,
                    None,
                    starts,
                    False,
                )
                excused.append(member_id)
            else:
                state = _ABSENT if closed and not is_exempt else _PENDING
                row = (
                    meeting_id,
                    member_id,
                    status,
                    is_exempt,
                    state,
                    None,
                    None,
                    None,
                    None,
                    starts,
                    False,
                )
            if not is_exempt:
                summoned_counted += 1
                eligible += status == full
            attendees.append(row)
        if not closed:
            return
        quorate = summoned_counted > 0 and 3 * present_counted >= 2 * summoned_counted
        self._motion(meeting_id, starts, secretary, voters, eligible, quorate, by_hand)
        self._talk(meeting_id, starts, present, excused)
        self._tasks(branch_id, meeting_id, starts, secretary, [m for m, *_ in members])

    def _motion(
        self,
        meeting_id: int,
        starts: datetime,
        secretary: int | None,
        voters: list[int],
        eligible: int,
        quorate: bool,
        by_hand: bool,
    ) -> None:
        rng = self.rng
        motion_id, self.next_motion = self.next_motion, self.next_motion + 1
        choices = [
            "yes" if (d := rng.random()) < 0.94 else "abstain" if d < 0.99 else "no" for _ in voters
        ]
        yes = choices.count("yes")
        self.rows["motion"].append(
            (
                motion_id,
                meeting_id,
                f"Thông qua nghị quyết chi bộ tháng {starts.month}/{starts.year}",
                False,
                MotionStatus.CLOSED,
                secretary,
                starts + timedelta(minutes=80),
                starts + timedelta(minutes=85),
                by_hand,
                yes,
                choices.count("no"),
                choices.count("abstain"),
                eligible,
                quorate,
                quorate and 2 * yes > eligible,
            )
        )
        if not by_hand:
            self.rows["motion_vote"].extend(
                (motion_id, voter, choice) for voter, choice in zip(voters, choices, strict=True)
            )

    def _talk(
        self, meeting_id: int, starts: datetime, present: list[int], excused: list[int]
    ) -> None:
        rng = self.rng
        comments = self.rows["meeting_comment"]
        if present and rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                comments.append(
                    (
                        meeting_id,
                        rng.choice(present),
                        rng.randrange(len(AGENDA)),
                        False,
                        rng.choice(COMMENTS),
                        starts + timedelta(minutes=rng.randint(10, 100)),
                        False,
                    )
                )
        if excused and rng.random() < 0.2:
            comments.append(
                (
                    meeting_id,
                    rng.choice(excused),
                    None,
                    True,
                    "Tôi vắng có lý do, xin gửi ý kiến bằng văn bản: tán thành dự thảo nghị quyết.",
                    starts - timedelta(hours=rng.randint(2, 48)),
                    False,
                )
            )

    def _tasks(
        self,
        branch_id: int,
        meeting_id: int,
        starts: datetime,
        secretary: int | None,
        members: list[int],
    ) -> None:
        rng = self.rng
        count = rng.choice((0, 1, 1, 2))
        for _ in range(count if members else 0):
            due = (starts + timedelta(days=rng.randint(14, 30))).date()
            status, updated = TaskStatus.OPEN, starts + timedelta(hours=2)
            progress = None
            if due < self.today:
                draw = rng.random()
                if draw < 0.80:
                    status, progress = TaskStatus.DONE, "Đã hoàn thành, báo cáo chi bộ."
                    done_on = due - timedelta(days=rng.randint(-3, 10))
                    updated = datetime.combine(done_on, time(10), tzinfo=starts.tzinfo)
                elif draw < 0.95:
                    progress = "Đang thực hiện."
                else:
                    status = TaskStatus.CANCELLED
            self.rows["task"].append(
                (
                    branch_id,
                    meeting_id,
                    rng.choice(members),
                    rng.choice(TASKS),
                    due,
                    status,
                    progress,
                    secretary,
                    1,
                    starts + timedelta(hours=2),
                    min(updated, self.now),
                )
            )


async def seed_province_meetings(conn: AsyncConnection, province: Any) -> int:
    """A year of every branch's meetings in the generated province (`province.AREA_SEEDERS`):
    most branches (85%) held all 12 monthly meetings in the app, 10% took to it during the year,
    5% only in the last month or two; each closed meeting with its agenda, attendance (~90%
    present, 7% excused with a reason, 3% absent; 4% of members often absent; exempt members
    summoned, rarely present, never absent), check-ins by QR, app or the secretary (members
    without a phone), a vote on the month's resolution (ballots in the app, or a show of hands in
    30% of branches), comments and written opinions, minutes (on time in most branches, late or
    missing in some), the branch's rating and 0–2 tasks; and next week's meeting announced
    (2% excused ahead). Written with COPY on PostgreSQL in the province's transaction. Returns
    the rows written."""
    rng = random.Random(province.seed + 11)  # noqa: S311 - generated data, not secrets
    postgres = conn.dialect.name == "postgresql"
    next_meeting = int(await conn.scalar(select(func.coalesce(func.max(Meeting.id), 0))) or 0)
    next_motion = int(await conn.scalar(select(func.coalesce(func.max(Motion.id), 0))) or 0)
    members: dict[int, list[tuple[int, str, bool, bool]]] = {}
    for member_id, branch_id, status, is_exempt, has_phone in await conn.execute(
        select(
            Member.id, Member.branch_id, Member.status, Member.is_exempt, Member.phone.is_not(None)
        ).where(Member.id >= province.first_member_id)
    ):
        members.setdefault(branch_id, []).append(
            (member_id, status, bool(is_exempt), bool(has_phone))
        )
    secretaries = {
        int(org_id): int(member_id)
        for member_id, org_id in await conn.execute(
            select(RoleGrant.member_id, RoleGrant.org_id).where(
                RoleGrant.role == Role.SECRETARY,
                RoleGrant.revoked_at.is_(None),
                RoleGrant.member_id >= province.first_member_id,
            )
        )
    }
    writer = _ProvinceMeetings(conn, rng, (next_meeting + 1, next_motion + 1))
    for branch in province.branches:
        writer.branch(
            branch.id, branch.path, members.get(branch.id, []), secretaries.get(branch.id)
        )
        await writer.flush()
    await writer.flush(final=True)
    if postgres:
        for table in ("meeting", "motion"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    return writer.written
