"""Motions (biểu quyết): open or secret ballots, a show of hands, results by the configured rule.

Eligible voters are summoned members who are present, full (not probationary) and not exempt,
as recorded in the meeting's snapshot. One participation row per voter and motion (its primary
key makes a second ballot fail, however concurrent). On a secret motion the participation row
has no choice, and the choice goes to `secret_ballot` with a random id and nothing else: no
voter, no time. Secret ballots do not take an Idempotency-Key (the key store would keep the body
beside the voter) and no response echoes a choice. Results of a secret ballot are hidden until
the motion closes; closing is final.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BigInteger, Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import (
    Attendance,
    AttendeeKind,
    Meeting,
    MeetingAttendee,
    MeetingStatus,
    MemberStatus,
    Motion,
    MotionStatus,
    MotionVote,
    Org,
    SecretBallot,
    VoteChoice,
)
from app.models.base import utcnow
from app.services import audit
from app.services.access import Actor
from app.services.meetings import attendance, lifecycle, rules
from app.services.meetings.lifecycle import MeetingTarget

_mo = Motion.__table__
_mt = Meeting.__table__
_org = Org.__table__
_at = cast(Table, MeetingAttendee.__table__)
_vote = MotionVote.__table__
_sb = SecretBallot.__table__


@dataclass(frozen=True, slots=True)
class MotionTarget:
    id: int
    meeting_id: int
    path: str
    is_secret: bool

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_mo.c.id, _mo.c.meeting_id, _mo.c.is_secret, _org.c.path)
    .join(_mt, _mt.c.id == _mo.c.meeting_id)
    .join(_org, _org.c.id == _mt.c.org_id)
    .where(_mo.c.id == bindparam("motion_id", type_=BigInteger))
)


async def load_target(reader: Reader, motion_id: int) -> MotionTarget | None:
    rows = await reader.fetch(_TARGET, {"motion_id": motion_id})
    if not rows:
        return None
    row = rows[0]
    return MotionTarget(
        id=row["id"], meeting_id=row["meeting_id"], path=row["path"], is_secret=row["is_secret"]
    )


async def target_in_meeting(
    session: AsyncSession, motion_id: int, meeting: Meeting
) -> MotionTarget | None:
    """A motion of this meeting as a guard would hand it (for batch entries naming one)."""
    motion = await session.get(Motion, motion_id)
    if motion is None or motion.meeting_id != meeting.id:
        return None
    path = await session.scalar(select(_org.c.path).where(_org.c.id == meeting.org_id))
    return MotionTarget(
        id=motion.id, meeting_id=meeting.id, path=str(path), is_secret=motion.is_secret
    )


async def _eligible_count(session: AsyncSession, meeting_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            _at.c.meeting_id == meeting_id,
            _at.c.kind == AttendeeKind.MEMBER,
            _at.c.member_status == MemberStatus.FULL,
            _at.c.is_exempt.is_(False),
        )
    )
    return int(count or 0)


async def _votes_cast(session: AsyncSession, motion_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(_vote.c.motion_id == motion_id)) or 0
    )


async def _tally(session: AsyncSession, motion: Motion) -> dict[str, int]:
    table = _sb if motion.is_secret else _vote
    rows = (
        await session.execute(
            select(table.c.choice, func.count())
            .where(table.c.motion_id == motion.id, table.c.choice.is_not(None))
            .group_by(table.c.choice)
        )
    ).all()
    found = {str(choice): int(n) for choice, n in rows}
    return {c.value: found.get(c.value, 0) for c in VoteChoice}


async def read_motion(session: AsyncSession, motion: Motion) -> dict[str, Any]:
    result: dict[str, Any] | None = None
    if motion.status == MotionStatus.CLOSED:
        result = {
            "yes": motion.yes_count or 0,
            "no": motion.no_count or 0,
            "abstain": motion.abstain_count or 0,
            "eligible": motion.eligible_count or 0,
            "is_quorate": motion.is_quorate,
            "has_passed": motion.has_passed,
        }
    elif not motion.is_secret:
        if motion.is_show_of_hands:
            tally = {
                "yes": motion.yes_count or 0,
                "no": motion.no_count or 0,
                "abstain": motion.abstain_count or 0,
            }
        else:
            tally = await _tally(session, motion)
        result = {
            **tally,
            "eligible": await _eligible_count(session, motion.meeting_id),
            "is_quorate": None,
            "has_passed": None,
        }
    return {
        "id": motion.id,
        "meeting_id": motion.meeting_id,
        "text": motion.text,
        "is_secret": motion.is_secret,
        "status": motion.status,
        "opened_at": motion.opened_at,
        "closed_at": motion.closed_at,
        "is_show_of_hands": motion.is_show_of_hands,
        "votes_cast": await _votes_cast(session, motion.id),
        "result": result,
    }


async def list_motions(
    session: AsyncSession, target: MeetingTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(Motion).where(Motion.meeting_id == target.id)
    if cursor:
        (last_id,) = decode_cursor(cursor, "motions", (int,))
        query = query.where(Motion.id > last_id)
    rows = list((await session.scalars(query.order_by(Motion.id).limit(limit + 1))).all())
    page, next_cursor = page_of(rows, limit, "motions", lambda m: (m.id,))
    return [await read_motion(session, m) for m in page], next_cursor


async def open_motion(
    session: AsyncSession, actor: Actor, target: MeetingTarget, *, text: str, is_secret: bool
) -> dict[str, Any]:
    meeting = await lifecycle.lock(session, target.id)
    if meeting.status != MeetingStatus.STARTED:
        raise Conflict("Chỉ biểu quyết khi cuộc họp đang diễn ra.", code="meeting.not_started")
    motion = Motion(
        meeting_id=meeting.id,
        text=text,
        is_secret=is_secret,
        status=MotionStatus.OPEN,
        opened_by_id=actor.member_id,
        opened_at=utcnow(),
        is_show_of_hands=False,
    )
    session.add(motion)
    await session.flush()
    await audit.record(
        session,
        actor,
        "motion.open",
        target=("motion", motion.id),
        org_id=meeting.org_id,
        detail={"meeting_id": meeting.id, "is_secret": is_secret},
    )
    return await read_motion(session, motion)


async def _open(session: AsyncSession, motion_id: int, *, lock: bool = False) -> Motion:
    motion = await session.get(Motion, motion_id, with_for_update=lock, populate_existing=True)
    if motion is None:
        raise NotFound(code="motion.not_found")
    if motion.status != MotionStatus.OPEN:
        raise Conflict("Biểu quyết đã kết thúc.", code="motion.closed")
    return motion


async def cast_ballot(
    session: AsyncSession, actor: Actor, target: MotionTarget, choice: VoteChoice, *, secret: bool
) -> dict[str, Any]:
    motion = await _open(session, target.id)
    if motion.is_secret != secret:
        if secret:
            raise Conflict("Đây là biểu quyết công khai.", code="motion.not_secret")
        raise Conflict("Đây là bỏ phiếu kín: gửi phiếu qua secret-ballots.", code="motion.secret")
    if motion.is_show_of_hands:
        raise Conflict("Biểu quyết này được đếm bằng giơ tay.", code="motion.show_of_hands")
    voter = (
        await session.execute(
            select(_at.c.attendance, _at.c.kind, _at.c.member_status, _at.c.is_exempt).where(
                _at.c.meeting_id == motion.meeting_id, _at.c.member_id == actor.member_id
            )
        )
    ).one_or_none()
    if voter is None:
        raise Forbidden("Bạn không được triệu tập dự cuộc họp này.", code="meeting.not_summoned")
    if voter.kind != AttendeeKind.MEMBER:
        raise Forbidden(
            "Đại biểu cấp trên và đảng viên sinh hoạt nơi cư trú không biểu quyết tại chi bộ này.",
            code="motion.not_eligible",
        )
    if voter.member_status != MemberStatus.FULL or voter.is_exempt:
        raise Forbidden(
            "Đảng viên dự bị hoặc được miễn sinh hoạt không biểu quyết.",
            code="motion.not_eligible",
        )
    if voter.attendance != Attendance.PRESENT:
        raise Forbidden("Cần điểm danh có mặt trước khi biểu quyết.", code="motion.not_present")
    try:
        async with session.begin_nested():
            session.add(
                MotionVote(
                    motion_id=motion.id,
                    member_id=actor.member_id,
                    choice=None if secret else choice.value,
                )
            )
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("Bạn đã biểu quyết rồi.", code="motion.already_voted") from exc
    if secret:
        session.add(SecretBallot(id=secrets.token_hex(16), motion_id=motion.id, choice=choice))
        await session.flush()
    return {"motion_id": motion.id, "recorded": True}


async def record_show_of_hands(
    session: AsyncSession, actor: Actor, target: MotionTarget, *, yes: int, no: int, abstain: int
) -> dict[str, Any]:
    motion = await _open(session, target.id, lock=True)
    if motion.is_secret:
        raise Conflict("Bỏ phiếu kín không đếm bằng giơ tay.", code="motion.secret")
    if await _votes_cast(session, motion.id):
        raise Conflict("Đã có phiếu biểu quyết trong ứng dụng.", code="motion.has_ballots")
    eligible = await _eligible_count(session, motion.meeting_id)
    if yes + no + abstain > eligible:
        raise Unprocessable(
            "Tổng số biểu quyết vượt quá số đảng viên có quyền biểu quyết.",
            code="motion.too_many_votes",
        )
    motion.is_show_of_hands = True
    motion.yes_count, motion.no_count, motion.abstain_count = yes, no, abstain
    await session.flush()
    meeting_org = await session.scalar(select(_mt.c.org_id).where(_mt.c.id == motion.meeting_id))
    await audit.record(
        session,
        actor,
        "motion.show_of_hands",
        target=("motion", motion.id),
        org_id=int(meeting_org or 0),
        detail={"yes": yes, "no": no, "abstain": abstain},
    )
    return await read_motion(session, motion)


async def _close(session: AsyncSession, motion: Motion, settings: RulesSettings) -> None:
    if not motion.is_show_of_hands:
        tally = await _tally(session, motion)
        motion.yes_count = tally["yes"]
        motion.no_count = tally["no"]
        motion.abstain_count = tally["abstain"]
    eligible = await _eligible_count(session, motion.meeting_id)
    c = await attendance.counts(session, motion.meeting_id)
    quorate = rules.is_quorate(c.present, c.quorum_base, settings.quorum_ratio)
    motion.eligible_count = eligible
    motion.is_quorate = quorate
    motion.has_passed = rules.has_passed(
        motion.yes_count or 0, eligible, settings.pass_ratio, quorate=quorate
    )
    motion.status = MotionStatus.CLOSED
    motion.closed_at = utcnow()
    await session.flush()


async def close_motion(
    session: AsyncSession, actor: Actor, target: MotionTarget, settings: RulesSettings
) -> dict[str, Any]:
    motion = await _open(session, target.id, lock=True)
    await _close(session, motion, settings)
    meeting_org = await session.scalar(select(_mt.c.org_id).where(_mt.c.id == motion.meeting_id))
    await audit.record(
        session,
        actor,
        "motion.close",
        target=("motion", motion.id),
        org_id=int(meeting_org or 0),
        detail={"has_passed": motion.has_passed, "is_quorate": motion.is_quorate},
    )
    return await read_motion(session, motion)


async def close_open_motions(
    session: AsyncSession, meeting: Meeting, settings: RulesSettings
) -> None:
    motions = (
        await session.scalars(
            select(Motion)
            .where(Motion.meeting_id == meeting.id, Motion.status == MotionStatus.OPEN)
            .with_for_update()
        )
    ).all()
    for motion in motions:
        await _close(session, motion, settings)
