"""Authorization rows: meetings and tasks.

Targets are meetings of B1 (own), B3 (near, in C1) and B4 (far, in C2), one per state a route
needs (draft, announced and starting in ten minutes, started with everyone present and two open
motions, closed), and a task per branch assigned to one of its members. The committee member of
C1 is a guest (đại biểu cấp trên) of the announced meetings of B1 and B3.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.models import (
    Attendance,
    AttendeeKind,
    Meeting,
    MeetingAttendee,
    MeetingStatus,
    Member,
    Motion,
    MotionStatus,
    Org,
    Task,
)
from app.models.base import utcnow
from app.resources import Resources
from app.services.meetings.attendance import qr_code
from tests.authz.harness import SELF, Call, Context, Row, org_targets, pick, table

MEETING = "meeting.not_found"
MOTION = "motion.not_found"
STATES = ("draft", "announced", "started", "closed")

VIEW = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 200 404",
    officer_root="200 200 200",
    editor="403 403 403",
    admin="200 200 200",
)
MANAGE = table(
    member="403 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="403 403 403",
    admin="200 200 200",
)
MANAGE_CREATE = {role: cells.replace("200", "201") for role, cells in MANAGE.items()}
# A draft exists only for those who manage the branch: to anyone else it is not found.
MANAGE_DRAFT = {role: cells.replace("403", "404") for role, cells in MANAGE.items()}
# Taking part: the branch's own summoned members (the admin may pass the scope anywhere but is
# summoned only in B4).
ATTEND = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 200 404",
    officer_root="403 403 200",
    editor="403 403 403",
    admin="403:meeting.not_summoned 403:meeting.not_summoned 200",
)
# Checking in: whoever is on the list and reads the meeting (the branch's members, the guest
# committee member of C1 on B1 and B3); other readers are not summoned.
NOT_LISTED = "403:meeting.not_summoned"
CHECK_IN = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1=f"{NOT_LISTED} {NOT_LISTED} 404",
    approver="403 200 404",
    officer_root=f"{NOT_LISTED} {NOT_LISTED} 200",
    editor="403 403 403",
    admin=f"{NOT_LISTED} {NOT_LISTED} 200",
)
# Inviting the committee member of C1: an officer above B1 and B3, not above B4.
ADD_GUEST = MANAGE | {"admin": "200 200 422:meeting.guest_not_upper_level"}
REMOVE_GUEST = MANAGE | {"admin": "200 200 404:meeting.guest_not_found"}
# Comments: summoned members, and leadership above the branch.
COMMENT = table(
    member="201 404 404",
    secretary="201 404 404",
    deputy="201 404 404",
    committee="201 201 404",
    officer_c1="201 201 404",
    approver="403 201 404",
    officer_root="201 201 201",
    editor="403 403 403",
    admin="201 201 201",
)
# The upper level's rating: leadership strictly above the branch.
UPPER = table(
    member="403 404 404",
    secretary="403:meeting.not_upper_level 404 404",
    deputy="403:meeting.not_upper_level 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 403 404",
    officer_root="200 200 200",
    editor="403 403 403",
    admin="200 200 200",
)
# Reporting on a task: its assignee (a member of the branch) and the branch's runners.
TASK_REPORT = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    editor="403 403 403",
    admin="200 200 200",
)

branch = org_targets("b1", "b3", "b4")


def _branch_members(ctx: Context, target: str) -> list[Member]:
    t = ctx.tree
    members: list[Member] = pick(
        target,
        [t.member, t.secretary, t.deputy, t.exempt, t.probationary],
        [t.teacher, t.approver],
        [t.outsider, t.officer_root, t.admin],
    )
    return members


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    now = utcnow()
    meetings: dict[str, dict[str, int]] = {state: {} for state in STATES}
    motions: dict[str, dict[str, int]] = {"open": {}, "secret": {}}
    tasks: dict[str, int] = {}
    secret_of: dict[int, str] = {}
    for target in ("own", "near", "far"):
        org: Org = pick(target, ctx.tree.b1, ctx.tree.b3, ctx.tree.b4)
        members = _branch_members(ctx, target)
        for state in STATES:
            starts = now + (timedelta(minutes=10) if state != "closed" else timedelta(hours=-3))
            meeting = Meeting(
                org_id=org.id,
                kind="regular",
                status=state,
                title=f"Sinh hoạt ({state})",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                place="Hội trường",
                agenda=[{"title": "Thông qua nghị quyết", "description": None}],
                qr_secret=secrets.token_hex(32),
            )
            session.add(meeting)
            await session.flush()
            meetings[state][target] = meeting.id
            secret_of[meeting.id] = meeting.qr_secret
            if state == MeetingStatus.DRAFT:
                continue
            present = state in (MeetingStatus.STARTED, MeetingStatus.CLOSED)
            for m in members:
                session.add(
                    MeetingAttendee(
                        meeting_id=meeting.id,
                        member_id=m.id,
                        member_status=m.status,
                        is_exempt=m.is_exempt,
                        attendance=Attendance.PRESENT if present else Attendance.PENDING,
                        checked_in_at=now if present else None,
                        updated_at=now,
                    )
                )
            if state == MeetingStatus.ANNOUNCED and target != "far":
                session.add(
                    MeetingAttendee(
                        meeting_id=meeting.id,
                        member_id=ctx.tree.committee.id,
                        kind=AttendeeKind.GUEST,
                        member_status=ctx.tree.committee.status,
                        is_exempt=False,
                        attendance=Attendance.PENDING,
                        updated_at=now,
                    )
                )
            if state == MeetingStatus.STARTED:
                for kind, is_secret in (("open", False), ("secret", True)):
                    motion = Motion(
                        meeting_id=meeting.id,
                        text="Thông qua nghị quyết",
                        is_secret=is_secret,
                        status=MotionStatus.OPEN,
                        opened_at=now,
                        is_show_of_hands=False,
                    )
                    session.add(motion)
                    await session.flush()
                    motions[kind][target] = motion.id
        task = Task(org_id=org.id, assignee_id=members[0].id, title="Vận động quần chúng")
        session.add(task)
        await session.flush()
        tasks[target] = task.id
    ctx.extra["meetings"] = meetings
    ctx.extra["motions"] = motions
    ctx.extra["tasks"] = tasks
    ctx.extra["qr_secrets"] = secret_of


def meeting(state: str) -> Any:
    def meeting_id(ctx: Context, target: str) -> int:
        return int(ctx.extra["meetings"][state][target])

    return meeting_id


def motion(kind: str) -> Any:
    def motion_id(ctx: Context, target: str) -> int:
        return int(ctx.extra["motions"][kind][target])

    return motion_id


def _qr(ctx: Context, target: str) -> dict[str, str]:
    meeting_id = meeting("announced")(ctx, target)
    step = int(utcnow().timestamp()) // RulesSettings().qr_step_s
    return {"code": qr_code(meeting_id, ctx.extra["qr_secrets"][meeting_id], step)}


def _in_a_day() -> dict[str, Any]:
    starts = utcnow() + timedelta(days=1)
    return {
        "title": "Sinh hoạt chuyên đề",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
    }


announced = meeting("announced")
started = meeting("started")
closed = meeting("closed")

ROWS = {
    "create_meeting": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{branch(c, t)}/meetings", _in_a_day()),
        MANAGE_CREATE,
        "org.not_found",
    ),
    "list_org_meetings": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/meetings"), VIEW, "org.not_found"
    ),
    "list_subtree_meetings": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/subtree-meetings"),
        VIEW,
        "org.not_found",
    ),
    "list_branch_absences": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/absences?year=2026"),
        MANAGE,
        "org.not_found",
    ),
    "list_my_meetings": Row(lambda c, t: Call("GET", "/api/v1/me/meetings"), SELF),
    "get_meeting": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{announced(c, t)}"), VIEW, MEETING
    ),
    "update_meeting": Row(
        lambda c, t: Call("PATCH", f"/api/v1/meetings/{announced(c, t)}", {"title": "Đổi tên"}),
        MANAGE,
        MEETING,
    ),
    "announce_meeting": Row(
        lambda c, t: Call("POST", f"/api/v1/meetings/{meeting('draft')(c, t)}/announce"),
        MANAGE_DRAFT,
        MEETING,
    ),
    "start_meeting": Row(
        lambda c, t: Call("POST", f"/api/v1/meetings/{announced(c, t)}/start"), MANAGE, MEETING
    ),
    "close_meeting": Row(
        lambda c, t: Call("POST", f"/api/v1/meetings/{started(c, t)}/close"), MANAGE, MEETING
    ),
    "cancel_meeting": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/meetings/{announced(c, t)}/cancel", {"reason": "Mưa bão"}
        ),
        MANAGE,
        MEETING,
    ),
    "reschedule_meeting": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/meetings/{announced(c, t)}/reschedule",
            {**{k: v for k, v in _in_a_day().items() if k != "title"}, "reason": "Trùng lịch"},
        ),
        MANAGE,
        MEETING,
    ),
    "set_meeting_minutes": Row(
        lambda c, t: Call("PUT", f"/api/v1/meetings/{started(c, t)}/minutes", {"text": "Biên bản"}),
        MANAGE,
        MEETING,
    ),
    "rate_meeting": Row(
        lambda c, t: Call("PUT", f"/api/v1/meetings/{closed(c, t)}/rating", {"rating": "good"}),
        MANAGE,
        MEETING,
    ),
    "rate_meeting_from_above": Row(
        lambda c, t: Call(
            "PUT", f"/api/v1/meetings/{closed(c, t)}/upper-rating", {"rating": "fair"}
        ),
        UPPER,
        MEETING,
    ),
    "get_meeting_attendance": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{announced(c, t)}/attendance"), VIEW, MEETING
    ),
    "list_meeting_attendees": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{announced(c, t)}/attendees"), VIEW, MEETING
    ),
    "check_in_meeting": Row(
        lambda c, t: Call("POST", f"/api/v1/meetings/{announced(c, t)}/check-in"),
        CHECK_IN,
        MEETING,
    ),
    "check_in_by_qr": Row(
        lambda c, t: Call("POST", f"/api/v1/meetings/{announced(c, t)}/check-in/qr", _qr(c, t)),
        CHECK_IN,
        MEETING,
    ),
    "add_meeting_guest": Row(
        lambda c, t: Call(
            "PUT", f"/api/v1/meetings/{announced(c, t)}/guests/{c.tree.committee.id}"
        ),
        ADD_GUEST,
        MEETING,
    ),
    "remove_meeting_guest": Row(
        lambda c, t: Call(
            "DELETE", f"/api/v1/meetings/{announced(c, t)}/guests/{c.tree.committee.id}"
        ),
        REMOVE_GUEST,
        MEETING,
    ),
    "get_branch_meeting_settings": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/meeting-settings"),
        VIEW,
        "org.not_found",
    ),
    "set_branch_meeting_settings": Row(
        lambda c, t: Call(
            "PUT",
            f"/api/v1/orgs/{branch(c, t)}/meeting-settings",
            {"has_residence_attendees": True},
        ),
        MANAGE,
        "org.not_found",
    ),
    "get_meeting_qr": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{announced(c, t)}/qr"), MANAGE, MEETING
    ),
    "mark_attendance": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/meetings/{announced(c, t)}/attendance",
            {"member_id": _branch_members(c, t)[0].id, "attendance": "present"},
        ),
        MANAGE,
        MEETING,
    ),
    "merge_offline_batch": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/meetings/{announced(c, t)}/offline-batch",
            {
                "entries": [
                    {
                        "client_id": "phone-1",
                        "kind": "check_in",
                        "client_time": utcnow().isoformat(),
                        "member_id": _branch_members(c, t)[0].id,
                    }
                ]
            },
        ),
        MANAGE,
        MEETING,
    ),
    "file_excuse": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/meetings/{announced(c, t)}/excuse", {"reason": "Đi công tác"}
        ),
        ATTEND,
        MEETING,
    ),
    "create_meeting_comment": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/meetings/{announced(c, t)}/comments", {"body": "Tán thành"}
        ),
        COMMENT,
        MEETING,
    ),
    "list_meeting_comments": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{announced(c, t)}/comments"), VIEW, MEETING
    ),
    "open_motion": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/meetings/{started(c, t)}/motions", {"text": "Kết nạp đảng viên"}
        ),
        MANAGE_CREATE,
        MEETING,
    ),
    "list_meeting_motions": Row(
        lambda c, t: Call("GET", f"/api/v1/meetings/{started(c, t)}/motions"), VIEW, MEETING
    ),
    "cast_ballot": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/motions/{motion('open')(c, t)}/ballots", {"choice": "yes"}
        ),
        ATTEND,
        MOTION,
    ),
    "cast_secret_ballot": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/motions/{motion('secret')(c, t)}/secret-ballots", {"choice": "no"}
        ),
        ATTEND,
        MOTION,
    ),
    "record_show_of_hands": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/motions/{motion('open')(c, t)}/show-of-hands",
            {"yes": 1, "no": 0, "abstain": 0},
        ),
        MANAGE,
        MOTION,
    ),
    "close_motion": Row(
        lambda c, t: Call("POST", f"/api/v1/motions/{motion('open')(c, t)}/close"),
        MANAGE,
        MOTION,
    ),
    "create_task": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/orgs/{branch(c, t)}/tasks",
            {"title": "Thăm hỏi gia đình chính sách", "assignee_id": _branch_members(c, t)[0].id},
        ),
        MANAGE_CREATE,
        "org.not_found",
    ),
    "list_org_tasks": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/tasks"), VIEW, "org.not_found"
    ),
    "list_my_tasks": Row(lambda c, t: Call("GET", "/api/v1/me/tasks"), SELF),
    "update_task": Row(
        lambda c, t: Call(
            "PATCH", f"/api/v1/tasks/{c.extra['tasks'][t]}", {"progress": "Đang thực hiện"}
        ),
        TASK_REPORT,
        "task.not_found",
    ),
}
