"""Attendance: check-in (in the app, by the rotating QR code, by the secretary), excuses, quorum.

Each summoned member has exactly one attendance row (`meeting_attendee`, keyed by meeting and
member, written at announce). Checking in is one conditional UPDATE of that row, so any number
of concurrent or repeated check-ins leave one attendance; a check-in is never undone by a late
duplicate. The server's clock decides whether a check-in is inside the window
(`rules.checkin_opens_before_min` before the start to `rules.checkin_closes_after_min` after it).

The QR code is an HMAC of the meeting id and the current time step under a per-meeting secret:
the secretary's screen fetches the current code, a screenshot goes stale after two steps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Table,
    bindparam,
    case,
    func,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import FastQuery, Reader, Row, SessionQueries, Statements
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import (
    Attendance,
    AttendeeKind,
    CheckInMethod,
    Meeting,
    MeetingAttendee,
    MeetingStatus,
    Member,
    Org,
)
from app.models.base import UTCDateTime, utcnow
from app.services import audit
from app.services.access import Actor
from app.services.auth import actor as actor_service
from app.services.meetings import lifecycle, rules
from app.services.meetings.lifecycle import MeetingTarget

_at = cast(Table, MeetingAttendee.__table__)
_m = Member.__table__
_mt = Meeting.__table__
_org = Org.__table__
QR_LENGTH = 8


# --- the rotating code ----------------------------------------------------------------------------


def qr_code(meeting_id: int, secret: str, step: int) -> str:
    digest = hmac.new(secret.encode(), f"{meeting_id}:{step}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:QR_LENGTH]


def _step(now: datetime, step_s: int) -> int:
    return int(now.timestamp()) // step_s


def current_qr(meeting: Meeting, settings: RulesSettings, now: datetime) -> dict[str, Any]:
    step = _step(now, settings.qr_step_s)
    return {
        "code": qr_code(meeting.id, meeting.qr_secret, step),
        "valid_until": datetime.fromtimestamp((step + 2) * settings.qr_step_s, tz=now.tzinfo),
        "step_s": settings.qr_step_s,
    }


def qr_matches(
    meeting_id: int, secret: str, code: str, settings: RulesSettings, now: datetime
) -> bool:
    step = _step(now, settings.qr_step_s)
    given = code.strip().upper()
    return any(hmac.compare_digest(qr_code(meeting_id, secret, s), given) for s in (step, step - 1))


# --- reading --------------------------------------------------------------------------------------


_ONE: ColumnElement[int] = literal_column("1")
_ZERO: ColumnElement[int] = literal_column("0")


def _n(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, _ONE), else_=_ZERO)), _ZERO)


def _is(attendance: Attendance) -> ColumnElement[bool]:
    # The value in the SQL itself: the lean reader binds only named parameters.
    return _at.c.attendance == literal_column(f"'{attendance.value}'")


def _kind(kind: AttendeeKind) -> ColumnElement[bool]:
    return _at.c.kind == literal_column(f"'{kind.value}'")


_present = _is(Attendance.PRESENT)
_member = _kind(AttendeeKind.MEMBER)
# The counts of one meeting's summoned members, on the session (writes: the quorum of a close,
# a motion) or, with the meeting's guard target, on the lean reader (the live attendance read).
# Every count of the quorum is of the branch's own members (`member` rows); guests and
# residence attendees are counted apart.
_COUNT_COLUMNS: tuple[ColumnElement[Any], ...] = (
    _n(_member).label("summoned"),
    _n(_member & _at.c.is_exempt.is_(True)).label("exempt"),
    _n(_member & _present & _at.c.is_exempt.is_(False)).label("present"),
    _n(_member & _present & _at.c.is_exempt.is_(True)).label("present_exempt"),
    _n(_member & _is(Attendance.EXCUSED)).label("excused"),
    _n(_member & _is(Attendance.ABSENT)).label("absent"),
    _n(_member & _is(Attendance.PENDING)).label("pending"),
    _n(_kind(AttendeeKind.GUEST)).label("guests"),
    _n(_kind(AttendeeKind.GUEST) & _present).label("guests_present"),
    _n(_kind(AttendeeKind.RESIDENCE)).label("residents"),
    _n(_kind(AttendeeKind.RESIDENCE) & _present).label("residents_present"),
)
_meeting_id = bindparam("meeting_id", type_=BigInteger)
_COUNTS = select(*_COUNT_COLUMNS).where(_at.c.meeting_id == _meeting_id)


def _counts(row: Mapping[Any, Any]) -> rules.Counts:
    return rules.Counts(
        summoned=int(row["summoned"]),
        exempt=int(row["exempt"]),
        present=int(row["present"]),
        present_exempt=int(row["present_exempt"]),
        excused=int(row["excused"]),
        absent=int(row["absent"]),
        pending=int(row["pending"]),
        guests=int(row["guests"]),
        guests_present=int(row["guests_present"]),
        residents=int(row["residents"]),
        residents_present=int(row["residents_present"]),
    )


async def counts(session: AsyncSession, meeting_id: int) -> rules.Counts:
    result = await session.execute(_COUNTS, {"meeting_id": meeting_id})
    return _counts(result.mappings().one())


@dataclass(frozen=True, slots=True)
class CountedMeeting(MeetingTarget):
    """A meeting's guard target with its live counts: the attendance read in one round trip."""

    counts: rules.Counts


_COUNTED_TARGET = FastQuery(
    select(_mt.c.id, _mt.c.org_id, _mt.c.status, _org.c.path, *_COUNT_COLUMNS)
    .select_from(_mt)
    .join(_org, _org.c.id == _mt.c.org_id)
    .outerjoin(_at, _at.c.meeting_id == _mt.c.id)
    .where(_mt.c.id == _meeting_id)
    .group_by(_mt.c.id, _mt.c.org_id, _mt.c.status, _org.c.path)
)


async def load_counted_target(reader: Reader, meeting_id: int) -> CountedMeeting | None:
    """`lifecycle.load_target` with the meeting's live counts (committed check-ins)."""
    rows = await reader.fetch(_COUNTED_TARGET, {"meeting_id": meeting_id})
    if not rows:
        return None
    row = rows[0]
    return CountedMeeting(
        id=row["id"],
        org_id=row["org_id"],
        path=row["path"],
        status=row["status"],
        counts=_counts(row),
    )


# The live attendance's guard target in the actor's own query (`api.deps.JoinedTarget`): the
# meeting (`lifecycle.with_target`) and its counts, an aggregate of its attendees bound to the
# path's id (one row, zeros when it has none). The attendance read in one round trip.
_target_counts = (
    select(*_COUNT_COLUMNS)
    .where(_at.c.meeting_id == actor_service.target_id())
    .subquery("target_counts")
)


def with_counted_target(actor_query: Select[Any]) -> Select[Any]:
    return (
        lifecycle.with_target(actor_query)
        .outerjoin(_target_counts, true())
        .add_columns(*_target_counts.c)
    )


def counted_target_of(row: Row) -> CountedMeeting | None:
    fields = actor_service.org_object_fields(row)
    return None if fields is None else CountedMeeting(**fields, counts=_counts(row))


@dataclass(frozen=True, slots=True)
class CheckInTarget(MeetingTarget):
    """A meeting's guard target with what a check-in decides on (its start for the window, the
    QR secret): the meeting is read once, by the guard, on the lean path."""

    starts_at: datetime
    qr_secret: str = field(repr=False)


_CHECK_IN_TARGET = FastQuery(
    select(_mt.c.id, _mt.c.org_id, _mt.c.status, _mt.c.starts_at, _mt.c.qr_secret, _org.c.path)
    .join(_org, _org.c.id == _mt.c.org_id)
    .where(_mt.c.id == _meeting_id)
)


async def load_check_in_target(reader: Reader, meeting_id: int) -> CheckInTarget | None:
    """`lifecycle.load_target` with the meeting's start and QR secret (committed values, as
    the request's own session would read them before its write)."""
    rows = await reader.fetch(_CHECK_IN_TARGET, {"meeting_id": meeting_id})
    return check_in_target_of(rows[0]) if rows else None


# The check-in's target read in the actor's own query (`api.deps.JoinedTarget`).
with_check_in_target = actor_service.with_org_object(_mt, "starts_at", "qr_secret")


def check_in_target_of(row: Row) -> CheckInTarget | None:
    """A `CheckInTarget` from a row of `_CHECK_IN_TARGET` or of `with_check_in_target`."""
    prefix = "target_" if "target_id" in row else ""
    if row[prefix + "id"] is None:
        return None
    return CheckInTarget(
        id=row[prefix + "id"],
        org_id=row[prefix + "org_id"],
        path=row[prefix + "path"],
        status=row[prefix + "status"],
        starts_at=row[prefix + "starts_at"],
        qr_secret=row[prefix + "qr_secret"],
    )


def summary(c: rules.Counts, settings: RulesSettings) -> dict[str, Any]:
    """Live attendance and the quorum from a meeting's counts."""
    return {
        "summoned": c.summoned,
        "exempt": c.exempt,
        "present": c.present + c.present_exempt,
        "excused": c.excused,
        "absent": c.absent,
        "pending": c.pending,
        "quorum_base": c.quorum_base,
        "quorum_needed": rules.quorum_needed(c.quorum_base, settings.quorum_ratio),
        "is_quorate": rules.is_quorate(c.present, c.quorum_base, settings.quorum_ratio),
        "guests": c.guests,
        "guests_present": c.guests_present,
        "residents": c.residents,
        "residents_present": c.residents_present,
    }


async def list_attendees(
    session: AsyncSession, target: MeetingTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = (
        select(
            _at.c.member_id,
            _m.c.full_name,
            _m.c.sort_key,
            _at.c.kind,
            _at.c.member_status,
            _at.c.is_exempt,
            _at.c.attendance,
            _at.c.method,
            _at.c.checked_in_at,
            _at.c.excuse_reason,
            _at.c.recorded_by_id,
        )
        .join(_m, _m.c.id == _at.c.member_id)
        .where(_at.c.meeting_id == target.id)
    )
    if cursor:
        sort_key, last_id = decode_cursor(cursor, "attendees", (str, int))
        query = query.where(
            (_m.c.sort_key > sort_key) | ((_m.c.sort_key == sort_key) & (_at.c.member_id > last_id))
        )
    query = query.order_by(_m.c.sort_key, _at.c.member_id).limit(limit + 1)
    rows = list((await session.execute(query)).mappings())
    page, next_cursor = page_of(rows, limit, "attendees", lambda r: (r["sort_key"], r["member_id"]))
    return [{k: v for k, v in r.items() if k != "sort_key"} for r in page], next_cursor


async def list_absences(
    session: AsyncSession,
    branch_id: int,
    *,
    year: int,
    settings: RulesSettings,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Unexcused absences per member at the branch's meetings of a (local) year; exempt
    members are never counted (they are never recorded absent)."""
    zone = ZoneInfo(settings.timezone)
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    absences = func.count().label("absences")
    query = (
        select(_at.c.member_id, _m.c.full_name, absences)
        .join(_mt, _mt.c.id == _at.c.meeting_id)
        .join(_m, _m.c.id == _at.c.member_id)
        .where(
            _mt.c.org_id == branch_id,
            _mt.c.starts_at >= start,
            _mt.c.starts_at < end,
            _at.c.kind == AttendeeKind.MEMBER,
            _at.c.attendance == Attendance.ABSENT,
            _at.c.is_exempt.is_(False),
        )
        .group_by(_at.c.member_id, _m.c.full_name)
    )
    if cursor:
        (last_id,) = decode_cursor(cursor, "absences", (int,))
        query = query.where(_at.c.member_id > last_id)
    rows = list(
        (await session.execute(query.order_by(_at.c.member_id).limit(limit + 1))).mappings()
    )
    page, next_cursor = page_of(rows, limit, "absences", lambda r: (r["member_id"],))
    return [
        {
            "member_id": r["member_id"],
            "full_name": r["full_name"],
            "absences": int(r["absences"]),
            "level": "flag" if r["absences"] >= settings.absence_flag_after else "warning",
        }
        for r in page
    ], next_cursor


# --- writing --------------------------------------------------------------------------------------


async def _meeting(session: AsyncSession, meeting_id: int) -> Meeting:
    meeting = await session.get(Meeting, meeting_id, populate_existing=True)
    if meeting is None:
        raise NotFound(code="meeting.not_found")
    return meeting


def _check_window(status: str, starts_at: datetime, settings: RulesSettings, now: datetime) -> None:
    if status not in (MeetingStatus.ANNOUNCED, MeetingStatus.STARTED):
        raise Conflict("Cuộc họp không mở điểm danh.", code="meeting.checkin_closed")
    opens = starts_at - timedelta(minutes=settings.checkin_opens_before_min)
    closes = starts_at + timedelta(minutes=settings.checkin_closes_after_min)
    if not opens <= now <= closes:
        raise Conflict(
            "Ngoài thời gian điểm danh của cuộc họp.", code="meeting.checkin_outside_window"
        )


# A check-in's answer: the attendance row as it is after the write.
_ANSWER = (_at.c.meeting_id, _at.c.member_id, _at.c.attendance, _at.c.method, _at.c.checked_in_at)
# Parameters named apart from the columns: an UPDATE reserves the columns' names for its SET.
_this_attendee = (_at.c.meeting_id == bindparam("p_meeting_id", type_=BigInteger)) & (
    _at.c.member_id == bindparam("p_member_id", type_=BigInteger)
)
_not_present = _at.c.attendance != Attendance.PRESENT
_now = bindparam("p_now", type_=UTCDateTime())
_recorded_by = bindparam("p_recorded_by", type_=BigInteger)
_ATTENDEE = FastQuery(select(*_ANSWER).where(_this_attendee))
# One conditional UPDATE … RETURNING marks a summoned member present and answers with the row:
# concurrent duplicates wait on the row and then change nothing (no row returned).
_MARK_PRESENT = FastQuery(
    update(_at)
    .where(_this_attendee, _not_present)
    .values(
        attendance=Attendance.PRESENT,
        method=bindparam("p_method", type_=_at.c.method.type),
        checked_in_at=_now,
        recorded_by_id=_recorded_by,
        updated_at=_now,
    )
    .returning(*_ANSWER)
)
_EXCUSE = (
    update(_at)
    .where(_this_attendee, _not_present)
    .values(
        attendance=Attendance.EXCUSED,
        excuse_reason=bindparam("p_reason", type_=_at.c.excuse_reason.type),
        recorded_by_id=_recorded_by,
        updated_at=_now,
    )
    .returning(*_ANSWER)
)


async def _attendee(tx: Statements, meeting_id: int, member_id: int) -> dict[str, Any]:
    rows = await tx.fetch(_ATTENDEE, {"p_meeting_id": meeting_id, "p_member_id": member_id})
    if not rows:
        raise Forbidden("Bạn không được triệu tập dự cuộc họp này.", code="meeting.not_summoned")
    return dict(rows[0])


async def _mark_present(
    tx: Statements,
    meeting_id: int,
    member_id: int,
    method: CheckInMethod,
    recorded_by: int | None,
    now: datetime,
) -> dict[str, Any]:
    """Present, once: the UPDATE proves the member summoned and marks them; when it changes
    nothing, one read tells "already present" (its row, unchanged) from "not summoned" (403)."""
    rows = await tx.fetch(
        _MARK_PRESENT,
        {
            "p_meeting_id": meeting_id,
            "p_member_id": member_id,
            "p_method": str(method),
            "p_now": now,
            "p_recorded_by": recorded_by,
        },
    )
    if not rows:
        return await _attendee(tx, meeting_id, member_id)
    return dict(rows[0])


async def check_in(
    tx: Statements,
    actor: Actor,
    target: CheckInTarget,
    settings: RulesSettings,
    *,
    qr: str | None = None,
) -> dict[str, Any]:
    """A listed member checks in (the branch's members, its guests from upper levels and its
    residence attendees, each recorded under their kind; the guard lets every reader of the
    meeting through, the list decides): in the app, or (`qr`) with the code on the secretary's
    screen. The window and the code are decided on the guard's target: the write is one
    statement, in the request's lean unit of work (`tx`)."""
    now = utcnow()
    _check_window(target.status, target.starts_at, settings, now)
    if qr is not None and not qr_matches(target.id, target.qr_secret, qr, settings, now):
        raise Unprocessable(
            "Mã QR không đúng hoặc đã hết hạn: hãy quét lại mã đang hiển thị.",
            code="meeting.qr_invalid",
        )
    method = CheckInMethod.QR if qr is not None else CheckInMethod.APP
    return await _mark_present(tx, target.id, actor.member_id, method, None, now)


async def qr_for_screen(
    session: AsyncSession, target: MeetingTarget, settings: RulesSettings
) -> dict[str, Any]:
    meeting = await _meeting(session, target.id)
    if meeting.status not in (MeetingStatus.ANNOUNCED, MeetingStatus.STARTED):
        raise Conflict("Cuộc họp không mở điểm danh.", code="meeting.checkin_closed")
    return current_qr(meeting, settings, utcnow())


async def mark_attendance(
    session: AsyncSession,
    actor: Actor,
    target: CheckInTarget,
    *,
    member_id: int,
    attendance: str,
    reason: str | None,
    settings: RulesSettings,
) -> dict[str, Any]:
    """The secretary records a member present (proxy check-in) or excused."""
    now = utcnow()
    if attendance == Attendance.PRESENT:
        _check_window(target.status, target.starts_at, settings, now)
        row = await _mark_present(
            SessionQueries(session), target.id, member_id, CheckInMethod.PROXY, actor.member_id, now
        )
    else:
        if not reason:
            raise Unprocessable("Cần ghi lý do vắng.", code="meeting.reason_required")
        row = await _excuse(session, target, member_id, reason, actor.member_id, now)
    await audit.record(
        session,
        actor,
        "meeting.attendance",
        target=("meeting", target.id),
        org_id=target.org_id,
        detail={"member_id": member_id, "attendance": attendance},
        on_behalf_of=member_id,
    )
    return row


async def _excuse(
    session: AsyncSession,
    meeting: CheckInTarget | Meeting,
    member_id: int,
    reason: str,
    recorded_by: int | None,
    now: datetime,
) -> dict[str, Any]:
    if meeting.status not in (MeetingStatus.ANNOUNCED, MeetingStatus.STARTED):
        raise Conflict("Không còn nhận đơn vắng cho cuộc họp này.", code="meeting.excuse_closed")
    if recorded_by is None and (
        meeting.status != MeetingStatus.ANNOUNCED or now >= meeting.starts_at
    ):
        raise Conflict("Chỉ xin vắng trước giờ bắt đầu cuộc họp.", code="meeting.excuse_closed")
    row = (
        (
            await session.execute(
                _EXCUSE,
                {
                    "p_meeting_id": meeting.id,
                    "p_member_id": member_id,
                    "p_reason": reason,
                    "p_recorded_by": recorded_by,
                    "p_now": now,
                },
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:  # not summoned (403), or present: a check-in is never undone
        await _attendee(SessionQueries(session), meeting.id, member_id)
        raise Conflict("Đã điểm danh có mặt.", code="meeting.already_checked_in")
    return dict(row)


async def file_excuse(
    session: AsyncSession, actor: Actor, target: MeetingTarget, reason: str, settings: RulesSettings
) -> dict[str, Any]:
    """The member excuses themselves (vắng có lý do) before the start; no more reminders."""
    now = utcnow()
    meeting = await _meeting(session, target.id)
    row = await _excuse(session, meeting, actor.member_id, reason, None, now)
    await lifecycle.schedule_reminders(session, meeting, settings)
    return row
