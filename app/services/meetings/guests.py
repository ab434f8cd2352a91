"""Who besides the branch's own members is on a meeting's list (`meeting_attendee.kind`).

- Guests (đại biểu cấp trên): officers who attend and guide the branch's meeting from a level
  above. The secretary or deputy invites them while the meeting is a draft or announced; a guest
  holds a live role on an org above the branch whose permissions read the branch's meetings
  (secretary, deputy, committee member or organisation officer of a committee above; the
  deployment admin), and is not a member of the branch. Inviting a guest twice changes nothing
  (`PUT`). Guests are invited by a notice when the meeting is announced, or at once when
  invited to an announced meeting, and told when the invitation is withdrawn.
- Residence attendees (sinh hoạt nơi cư trú): members attached to the branch where they live.
  They are listed by `lifecycle.refresh_snapshot` (at announce, and on every change until the
  start) when the meeting's `has_residence_attendees` says so; a meeting takes its branch's
  setting (`org.has_residence_attendees`, set by the branch's secretary) unless its secretary
  chose otherwise.

Both read the meeting, its agenda and documents, comment and check in (recorded under their
kind), and are reminded like the members; neither is ever counted in the quorum, recorded absent,
awarded points for attending, nor eligible to vote there (residence attendees vote in their own
branch).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import dialect_insert
from app.core.errors import Conflict, NotFound, Unprocessable
from app.models import (
    Attendance,
    AttendeeKind,
    MeetingAttendee,
    MeetingStatus,
    Member,
    Org,
    RoleGrant,
)
from app.models.base import utcnow
from app.services import audit
from app.services.access import ROLE_PERMISSIONS, Actor, Permission, ancestor_ids
from app.services.meetings import lifecycle
from app.services.meetings.lifecycle import MeetingTarget
from app.services.orgs import OrgTarget

_at = cast(Table, MeetingAttendee.__table__)
_m = Member.__table__
_org = cast(Table, Org.__table__)
_grant = RoleGrant.__table__

# Roles whose holders, on an org above a branch, may be its meetings' guests: those that read
# the branch's meetings from above (so the guest can open what they are invited to).
GUEST_ROLES = frozenset(
    role.value for role, perms in ROLE_PERMISSIONS.items() if Permission.MEETING_VIEW in perms
)


def _not_upper_level() -> Unprocessable:
    return Unprocessable(
        "Đại biểu khách mời phải là đảng viên giữ chức vụ ở cấp ủy cấp trên của chi bộ.",
        code="meeting.guest_not_upper_level",
    )


def _is_member() -> Conflict:
    return Conflict(
        "Đảng viên của chi bộ đã được triệu tập, không mời làm đại biểu.",
        code="meeting.guest_is_member",
    )


async def _upper_level_guest(
    session: AsyncSession, member_id: int, branch_id: int, branch_path: str
) -> Any:
    """The member (id, branch, status, exemption) when they may be a guest of the branch's
    meetings: not archived, not of the branch, holding a live guest role on an org strictly
    above it."""
    member = (
        await session.execute(
            select(_m.c.id, _m.c.branch_id, _m.c.status, _m.c.is_exempt).where(
                _m.c.id == member_id, _m.c.archived_on.is_(None)
            )
        )
    ).one_or_none()
    above = ancestor_ids(branch_path)[:-1]
    if member is None or not above:
        raise _not_upper_level()
    if member.branch_id == branch_id:
        raise _is_member()
    holds = await session.scalar(
        select(_grant.c.id)
        .join(_org, _org.c.id == _grant.c.org_id)
        .where(
            _grant.c.member_id == member_id,
            _grant.c.org_id.in_(above),
            _grant.c.role.in_(sorted(GUEST_ROLES)),
            _grant.c.revoked_at.is_(None),
            _org.c.is_active.is_(True),
        )
        .limit(1)
    )
    if holds is None:
        raise _not_upper_level()
    return member


async def upper_level_officers(
    session: AsyncSession, branch_id: int, branch_path: str
) -> list[int]:
    """The members who may be the branch's guests, the nearest level first."""
    above = ancestor_ids(branch_path)[:-1]
    if not above:
        return []
    return list(
        dict.fromkeys(
            (
                await session.scalars(
                    select(_grant.c.member_id)
                    .join(_org, _org.c.id == _grant.c.org_id)
                    .join(_m, _m.c.id == _grant.c.member_id)
                    .where(
                        _grant.c.org_id.in_(above),
                        _grant.c.role.in_(sorted(GUEST_ROLES)),
                        _grant.c.revoked_at.is_(None),
                        _org.c.is_active.is_(True),
                        _m.c.branch_id != branch_id,
                        _m.c.archived_on.is_(None),
                    )
                    .order_by(_org.c.depth.desc(), _grant.c.member_id)
                )
            ).all()
        )
    )


async def add_guest(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    member_id: int,
    rules: RulesSettings,
) -> None:
    """Invite an upper-level officer to a draft or announced meeting (idempotent)."""
    meeting = await lifecycle.lock(session, target.id)
    if meeting.status not in lifecycle.EDITABLE:
        raise lifecycle.wrong_status(meeting, "draft, announced")
    member = await _upper_level_guest(session, member_id, meeting.org_id, target.path)
    listed = (
        await session.execute(
            select(_at.c.kind)
            .where(_at.c.meeting_id == meeting.id, _at.c.member_id == member_id)
            .with_for_update()
        )
    ).one_or_none()
    if listed is not None and listed.kind == AttendeeKind.GUEST:
        return  # invited already: nothing changes
    if listed is not None and listed.kind == AttendeeKind.MEMBER:
        # A former member whose attendance is recorded here: they stay on the list as such.
        raise _is_member()
    now = utcnow()
    if listed is not None:  # a residence attendee becomes a guest
        await session.execute(
            update(_at)
            .where(_at.c.meeting_id == meeting.id, _at.c.member_id == member_id)
            .values(kind=AttendeeKind.GUEST, updated_at=now)
        )
    else:
        await session.execute(
            dialect_insert(session, _at)
            .values(
                meeting_id=meeting.id,
                member_id=member_id,
                kind=AttendeeKind.GUEST,
                member_status=member.status,
                is_exempt=member.is_exempt,
                attendance=Attendance.PENDING,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["meeting_id", "member_id"])
        )
    if meeting.status == MeetingStatus.ANNOUNCED:
        await lifecycle.invite_guests(
            session, meeting, [member_id], rules, created_by_id=actor.member_id
        )
        await lifecycle.schedule_reminders(session, meeting, rules)
    await audit.record(
        session,
        actor,
        "meeting.guest_add",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"member_id": member_id},
    )


async def remove_guest(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    member_id: int,
    rules: RulesSettings,
) -> None:
    """Withdraw a guest's invitation (draft or announced; not once they checked in)."""
    meeting = await lifecycle.lock(session, target.id)
    if meeting.status not in lifecycle.EDITABLE:
        raise lifecycle.wrong_status(meeting, "draft, announced")
    listed = (
        await session.execute(
            select(_at.c.kind, _at.c.attendance)
            .where(_at.c.meeting_id == meeting.id, _at.c.member_id == member_id)
            .with_for_update()
        )
    ).one_or_none()
    if listed is None or listed.kind != AttendeeKind.GUEST:
        raise NotFound(
            "Đảng viên này không phải đại biểu khách mời của cuộc họp.",
            code="meeting.guest_not_found",
        )
    if listed.attendance == Attendance.PRESENT:
        raise Conflict(
            "Đại biểu đã điểm danh có mặt, không thể thôi mời.", code="meeting.guest_checked_in"
        )
    await session.execute(
        delete(_at).where(_at.c.meeting_id == meeting.id, _at.c.member_id == member_id)
    )
    if meeting.status == MeetingStatus.ANNOUNCED:
        await lifecycle.notify_members(
            session,
            actor,
            meeting,
            [member_id],
            f"Thôi mời dự sinh hoạt: {meeting.title}",
            "Chi bộ đã rút lời mời đồng chí dự cuộc họp này.",
        )
        # Back on the list as a residence attendee, when they are one.
        await lifecycle.refresh_snapshot(session, meeting)
        await lifecycle.schedule_reminders(session, meeting, rules)
    await audit.record(
        session,
        actor,
        "meeting.guest_remove",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"member_id": member_id},
    )


# --- the branch's setting -------------------------------------------------------------------------


def _not_branch() -> Unprocessable:
    return Unprocessable("Chỉ chi bộ mới tổ chức sinh hoạt chi bộ.", code="meeting.not_branch")


async def branch_settings(session: AsyncSession, org: OrgTarget) -> dict[str, Any]:
    if not org.is_branch:
        raise _not_branch()
    value = await session.scalar(select(_org.c.has_residence_attendees).where(_org.c.id == org.id))
    return {"org_id": org.id, "has_residence_attendees": bool(value)}


async def set_branch_settings(
    session: AsyncSession, actor: Actor, org: OrgTarget, *, has_residence_attendees: bool
) -> dict[str, Any]:
    """The default of the branch's next meetings (meetings already planned keep their own)."""
    if not org.is_branch:
        raise _not_branch()
    before = await session.scalar(
        select(_org.c.has_residence_attendees).where(_org.c.id == org.id).with_for_update()
    )
    if bool(before) != has_residence_attendees:
        # A plain UPDATE: the org's row version (its ETag) is about its name and code.
        await session.execute(
            update(_org)
            .where(_org.c.id == org.id)
            .values(has_residence_attendees=has_residence_attendees)
        )
        await audit.record(
            session,
            actor,
            "org.meeting_settings",
            target=("org", org.id),
            org_id=org.id,
            changes=audit.changes(
                {"has_residence_attendees": bool(before)},
                {"has_residence_attendees": has_residence_attendees},
            ),
        )
    return {"org_id": org.id, "has_residence_attendees": has_residence_attendees}
