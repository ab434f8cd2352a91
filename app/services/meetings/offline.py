"""Offline-tolerant writes: the secretary's app records check-ins, excuses, comments and
hand counts without a connection and sends them later in one batch.

Merging is idempotent and deterministic: every entry carries a client-generated id, kept per
meeting with its outcome (the same batch sent again changes nothing and answers the same), and
entries apply in the order of their client time, then id. A check-in is never undone by a later
entry. A client time is accepted only inside the meeting's window (check-ins around the start,
excuses before it) and never later than the moment the server receives it; what is applied is
marked as recorded offline.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.errors import AppError
from app.models import (
    Attendance,
    CheckInMethod,
    Meeting,
    MeetingAttendee,
    MeetingComment,
    MeetingOfflineEntry,
    MeetingStatus,
)
from app.models.base import utcnow
from app.schemas.meeting import OfflineEntry
from app.services import audit
from app.services.access import Actor
from app.services.meetings import lifecycle, motions
from app.services.meetings.lifecycle import MeetingTarget

_at = cast(Table, MeetingAttendee.__table__)
APPLIED = "applied"
LIVE = frozenset({MeetingStatus.ANNOUNCED, MeetingStatus.STARTED, MeetingStatus.CLOSED})


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _summoned(session: AsyncSession, meeting_id: int, member_id: int) -> str:
    attendance = await session.scalar(
        select(_at.c.attendance).where(_at.c.meeting_id == meeting_id, _at.c.member_id == member_id)
    )
    if attendance is None:
        raise _Refused("meeting.not_summoned")
    return str(attendance)


async def _apply(
    session: AsyncSession,
    actor: Actor,
    meeting: Meeting,
    entry: OfflineEntry,
    settings: RulesSettings,
) -> None:
    when = entry.client_time
    if meeting.status not in LIVE:
        raise _Refused("meeting.invalid_status")
    if entry.kind == "check_in":
        opens = meeting.starts_at - timedelta(minutes=settings.checkin_opens_before_min)
        closes = meeting.starts_at + timedelta(minutes=settings.checkin_closes_after_min)
        if not opens <= when <= closes:
            raise _Refused("meeting.checkin_outside_window")
        assert entry.member_id is not None  # noqa: S101 - checked by the schema
        if await _summoned(session, meeting.id, entry.member_id) == Attendance.PRESENT:
            return  # never undone, never moved: the first check-in stands
        await session.execute(
            update(_at)
            .where(_at.c.meeting_id == meeting.id, _at.c.member_id == entry.member_id)
            .values(
                attendance=Attendance.PRESENT,
                method=CheckInMethod.PROXY,
                checked_in_at=when,
                recorded_by_id=actor.member_id,
                is_offline=True,
                updated_at=utcnow(),
            )
        )
    elif entry.kind == "excuse":
        if when >= meeting.starts_at:
            raise _Refused("meeting.excuse_closed")
        assert entry.member_id is not None  # noqa: S101 - checked by the schema
        current = await _summoned(session, meeting.id, entry.member_id)
        if current == Attendance.PRESENT:
            raise _Refused("meeting.already_checked_in")
        await session.execute(
            update(_at)
            .where(_at.c.meeting_id == meeting.id, _at.c.member_id == entry.member_id)
            .values(
                attendance=Attendance.EXCUSED,
                excuse_reason=entry.text,
                recorded_by_id=actor.member_id,
                is_offline=True,
                updated_at=utcnow(),
            )
        )
    elif entry.kind == "comment":
        if entry.member_id is not None:
            await _summoned(session, meeting.id, entry.member_id)
        if entry.agenda_item is not None and entry.agenda_item >= len(meeting.agenda):
            raise _Refused("meeting.no_such_agenda_item")
        session.add(
            MeetingComment(
                meeting_id=meeting.id,
                member_id=entry.member_id or actor.member_id,
                agenda_item=entry.agenda_item,
                is_written_opinion=entry.member_id not in (None, actor.member_id),
                body=entry.text or "",
                created_at=when,
                is_offline=True,
            )
        )
        await session.flush()
    else:  # hand_count
        assert entry.motion_id is not None  # noqa: S101 - checked by the schema
        target = await motions.target_in_meeting(session, entry.motion_id, meeting)
        if target is None:
            raise _Refused("motion.not_found")
        await motions.record_show_of_hands(
            session, actor, target, yes=entry.yes or 0, no=entry.no or 0, abstain=entry.abstain or 0
        )


async def merge_batch(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    entries: list[OfflineEntry],
    settings: RulesSettings,
) -> list[dict[str, Any]]:
    now = utcnow()
    meeting = await lifecycle.lock(session, target.id)
    seen = {
        row.client_id: row.outcome
        for row in (
            await session.execute(
                select(MeetingOfflineEntry.client_id, MeetingOfflineEntry.outcome).where(
                    MeetingOfflineEntry.meeting_id == meeting.id,
                    MeetingOfflineEntry.client_id.in_([e.client_id for e in entries]),
                )
            )
        ).all()
    }
    outcomes: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: (e.client_time, e.client_id)):
        if entry.client_id in seen or entry.client_id in outcomes:
            continue
        if entry.client_time > now:
            outcome = "meeting.client_time_in_future"
        else:
            try:
                async with session.begin_nested():
                    await _apply(session, actor, meeting, entry, settings)
                outcome = APPLIED
            except _Refused as refused:
                outcome = refused.code
            except AppError as error:
                outcome = error.code
        outcomes[entry.client_id] = outcome
        session.add(
            MeetingOfflineEntry(
                meeting_id=meeting.id,
                client_id=entry.client_id,
                kind=entry.kind,
                outcome=outcome,
                client_time=entry.client_time,
                received_at=now,
                recorded_by_id=actor.member_id,
            )
        )
    await session.flush()
    if outcomes:
        await audit.record(
            session,
            actor,
            "meeting.offline_batch",
            target=("meeting", meeting.id),
            org_id=meeting.org_id,
            detail={
                "entries": len(outcomes),
                "applied": sum(1 for o in outcomes.values() if o == APPLIED),
            },
        )
    return [
        {
            "client_id": e.client_id,
            "outcome": outcomes.get(e.client_id, seen.get(e.client_id, APPLIED)),
            "is_replay": e.client_id in seen,
        }
        for e in entries
    ]
