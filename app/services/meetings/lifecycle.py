"""A meeting's life: draft → announced → started → closed (or cancelled), and what goes with it.

- Announcing takes the snapshot of the summoned members (every member of the branch, with their
  status and exemption); it is refreshed on every change until the start, then frozen, so
  quorum and eligibility never change when a member's record changes later.
- Members are notified through the worker's notices in the same transaction; reminders are
  scheduled the day before (at `rules.reminder_day_before_at`, local time) and
  `rules.reminder_hours_before` hours before the start, to the summoned members who have neither
  checked in nor excused themselves; rescheduling moves them, cancelling removes them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings, get_settings
from app.core.db import FastQuery, Reader, Row
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.core.etag import check as etag_check
from app.core.pagination import InvalidCursor, decode_cursor, page_of
from app.models import (
    AttachmentKind,
    Attendance,
    AttendeeKind,
    Document,
    DocumentStatus,
    Meeting,
    MeetingAttachment,
    MeetingAttendee,
    MeetingComment,
    MeetingDocument,
    MeetingStatus,
    Member,
    MembershipPeriod,
    NoticeKind,
    Org,
    Role,
    RoleGrant,
    Upload,
)
from app.models.base import UTCDateTime, utcnow
from app.models.study import PointSource
from app.schemas.meeting import (
    CommentCreate,
    MeetingCreate,
    MeetingReschedule,
    MeetingUpdate,
    MinutesUpdate,
)
from app.services import access, audit, notices, points
from app.services import rules as rules_service
from app.services.access import Actor, Permission, in_subtree
from app.services.auth import actor as actor_service
from app.services.notices import Audience
from app.services.orgs import OrgTarget
from app.services.uploads import records as upload_records
from app.services.uploads.intake import UploadPurpose

_mt = Meeting.__table__
_at = cast(Table, MeetingAttendee.__table__)
_org = Org.__table__
_m = Member.__table__
_up = Upload.__table__
_att = MeetingAttachment.__table__
_doc = Document.__table__
_mdoc = MeetingDocument.__table__
_cm = MeetingComment.__table__
_grant = RoleGrant.__table__
_period = MembershipPeriod.__table__

MAX_DURATION = timedelta(hours=24)
EDITABLE = frozenset({MeetingStatus.DRAFT, MeetingStatus.ANNOUNCED})
REMINDERS = ("day-before", "hours-before")


@dataclass(frozen=True, slots=True)
class MeetingTarget:
    id: int
    org_id: int
    path: str  # the branch's path
    status: str

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_mt.c.id, _mt.c.org_id, _mt.c.status, _org.c.path)
    .join(_org, _org.c.id == _mt.c.org_id)
    .where(_mt.c.id == bindparam("meeting_id", type_=BigInteger))
)


async def load_target(reader: Reader, meeting_id: int) -> MeetingTarget | None:
    rows = await reader.fetch(_TARGET, {"meeting_id": meeting_id})
    if not rows:
        return None
    row = rows[0]
    return MeetingTarget(id=row["id"], org_id=row["org_id"], path=row["path"], status=row["status"])


def joined_target(row: Row) -> MeetingTarget | None:
    """The guard's target read in the actor's query (`with_target`)."""
    fields = actor_service.org_object_fields(row)
    return None if fields is None else MeetingTarget(**fields)


# The guard's target in the actor's own query (`api.deps.JoinedTarget`): a meeting's reads
# take one round trip less.
with_target = actor_service.with_org_object(_mt)


def can_manage(actor: Actor, path: str) -> bool:
    return access.can(actor, Permission.MEETING_MANAGE, path)


def hide_draft(actor: Actor, target: MeetingTarget) -> None:
    """Drafts are the secretary's: to everyone else a draft does not exist yet."""
    if target.status == MeetingStatus.DRAFT and not can_manage(actor, target.path):
        raise NotFound(code="meeting.not_found")


# --- errors ---------------------------------------------------------------------------------------


def wrong_status(meeting: Meeting, wanted: str) -> Conflict:
    messages = {
        MeetingStatus.CLOSED: ("Cuộc họp đã kết thúc, không thể thay đổi.", "meeting.closed"),
        MeetingStatus.CANCELLED: ("Cuộc họp đã bị hủy.", "meeting.cancelled"),
    }
    if meeting.status in messages:
        detail, code = messages[MeetingStatus(meeting.status)]
        return Conflict(detail, code=code)
    return Conflict(
        f"Không thể thực hiện khi cuộc họp đang ở trạng thái này (cần: {wanted}).",
        code="meeting.invalid_status",
    )


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at or ends_at - starts_at > MAX_DURATION:
        raise Unprocessable(
            "Thời gian kết thúc phải sau thời gian bắt đầu và trong vòng 24 giờ.",
            code="meeting.invalid_time",
        )
    if starts_at <= now:
        raise Unprocessable("Thời gian bắt đầu phải ở tương lai.", code="meeting.in_past")


# --- reading --------------------------------------------------------------------------------------


_SUMMARY_COLUMNS = (
    _mt.c.id,
    _mt.c.org_id,
    _org.c.name.label("org_name"),
    _mt.c.kind,
    _mt.c.status,
    _mt.c.title,
    _mt.c.starts_at,
    _mt.c.ends_at,
    _mt.c.place,
)


# A list's item where the reader's own attendance is not read: the rows of these lists carry
# exactly their items' keys (`MeetingSummary`, `SubtreeMeeting`), an item is the row as a dict.
_NO_ATTENDANCE = (null().label("my_attendance"), null().label("attending_as"))


def _constant(value: str) -> ColumnElement[str]:
    """A fixed string in the SQL itself (the lean reader binds only named parameters)."""
    assert value.isidentifier()  # noqa: S101 - enum values only, never input
    return literal_column(f"'{value}'")


def _json(value: Any) -> Any:
    # asyncpg hands JSON back as text (no type processing on the lean path); SQLite decoded.
    return json.loads(value) if isinstance(value, str | bytes) else value


# The meeting's own columns in its detail (`MeetingRead`), read by name from a row or the ORM.
_DETAIL_FIELDS = (
    "id",
    "org_id",
    "kind",
    "status",
    "title",
    "starts_at",
    "ends_at",
    "place",
    "online_url",
    "agenda",
    "announced_at",
    "started_at",
    "closed_at",
    "cancelled_at",
    "cancel_reason",
    "reschedule_reason",
    "has_residence_attendees",
    "minutes_upload_id",
    "minutes_text",
    "minutes_at",
    "rating",
    "upper_rating",
    "created_at",
    "version",
)


def _detail(
    meeting: Mapping[str, Any],
    *,
    org_name: str,
    mine: str | None,
    attending_as: str | None,
    attachments: Sequence[Mapping[str, Any]],
    documents: Sequence[Mapping[str, Any]],
    guests: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    has_minutes = meeting["minutes_upload_id"] is not None or meeting["minutes_text"] is not None
    return {
        "id": meeting["id"],
        "org_id": meeting["org_id"],
        "org_name": org_name,
        "kind": meeting["kind"],
        "status": meeting["status"],
        "title": meeting["title"],
        "starts_at": meeting["starts_at"],
        "ends_at": meeting["ends_at"],
        "place": meeting["place"],
        "my_attendance": mine,
        "attending_as": attending_as,
        "online_url": meeting["online_url"],
        "agenda": _json(meeting["agenda"]),
        "attachments": attachments,
        "documents": documents,
        "guests": guests,
        "has_residence_attendees": bool(meeting["has_residence_attendees"]),
        "announced_at": meeting["announced_at"],
        "started_at": meeting["started_at"],
        "closed_at": meeting["closed_at"],
        "cancelled_at": meeting["cancelled_at"],
        "cancel_reason": meeting["cancel_reason"],
        "reschedule_reason": meeting["reschedule_reason"],
        "minutes": {
            "upload_id": meeting["minutes_upload_id"],
            "text": meeting["minutes_text"],
            "recorded_at": meeting["minutes_at"],
        }
        if has_minutes
        else None,
        "rating": meeting["rating"],
        "upper_rating": meeting["upper_rating"],
        "created_at": meeting["created_at"],
        "version": meeting["version"],
    }


async def read_meeting(session: AsyncSession, actor: Actor, meeting_id: int) -> dict[str, Any]:
    """The detail in the request's transaction: what a write just changed (`read_meeting_lean`
    is the same answer on the lean path)."""
    meeting = await session.get(Meeting, meeting_id, populate_existing=True)
    if meeting is None:
        raise NotFound(code="meeting.not_found")
    org_name = await session.scalar(select(_org.c.name).where(_org.c.id == meeting.org_id))
    attachments = (
        await session.execute(
            select(_up.c.id, _up.c.filename, _up.c.content_type, _up.c.size)
            .join(_att, _att.c.upload_id == _up.c.id)
            .where(_att.c.meeting_id == meeting.id)
            .order_by(_att.c.id)
        )
    ).all()
    documents = (
        await session.execute(
            select(_doc.c.id, _doc.c.number, _doc.c.title, _doc.c.issuing_body)
            .join(_mdoc, _mdoc.c.document_id == _doc.c.id)
            .where(_mdoc.c.meeting_id == meeting.id)
            .order_by(_mdoc.c.added_at, _doc.c.id)
        )
    ).all()
    mine = (
        await session.execute(
            select(_at.c.attendance, _at.c.kind).where(
                _at.c.meeting_id == meeting.id, _at.c.member_id == actor.member_id
            )
        )
    ).one_or_none()
    guests = (
        await session.execute(
            select(_at.c.member_id, _m.c.full_name, _at.c.attendance)
            .join(_m, _m.c.id == _at.c.member_id)
            .where(_at.c.meeting_id == meeting.id, _at.c.kind == AttendeeKind.GUEST)
            .order_by(_at.c.member_id)
        )
    ).all()
    return _detail(
        {name: getattr(meeting, name) for name in _DETAIL_FIELDS},
        org_name=cast(str, org_name),
        mine=mine.attendance if mine else None,
        attending_as=mine.kind if mine else None,
        guests=[
            {"member_id": g.member_id, "full_name": g.full_name, "attendance": g.attendance}
            for g in guests
        ],
        attachments=[
            {
                "upload_id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in attachments
        ],
        documents=[
            {
                "document_id": d.id,
                "number": d.number,
                "title": d.title,
                "issuing_body": d.issuing_body,
            }
            for d in documents
        ],
    )


# The detail on the lean path in one round trip: the meeting, its org's name and my attendance,
# once per attached item (its uploads, then its documents: a UNION ALL joined on), or once with
# no item. Items are few (at most 20 uploads and the documents of one agenda).
_my_att = _at.alias("my_attendance")
_guest_at = _at.alias("guest")
_item_at = cast_(null(), UTCDateTime())
_meeting_id = bindparam("meeting_id", type_=BigInteger)
_items = union_all(
    select(
        _att.c.meeting_id.label("item_meeting_id"),
        _constant("attachment").label("item_kind"),
        _up.c.id.label("item_id"),
        _up.c.filename.label("item_text1"),
        _up.c.content_type.label("item_text2"),
        cast_(null(), String()).label("item_text3"),
        _up.c.size.label("item_size"),
        _item_at.label("item_sort_at"),
        _att.c.id.label("item_sort_id"),
    )
    .join(_up, _up.c.id == _att.c.upload_id)
    .where(_att.c.meeting_id == _meeting_id),
    select(
        _mdoc.c.meeting_id,
        _constant("document"),
        _doc.c.id,
        _doc.c.number,
        _doc.c.title,
        _doc.c.issuing_body,
        cast_(null(), BigInteger()),
        _mdoc.c.added_at,
        _doc.c.id.label("document_sort_id"),
    )
    .join(_doc, _doc.c.id == _mdoc.c.document_id)
    .where(_mdoc.c.meeting_id == _meeting_id),
    # The guests (a few officers): name and attendance, in the order of their ids.
    select(
        _guest_at.c.meeting_id,
        _constant("guest"),
        _m.c.id,
        _m.c.full_name,
        _guest_at.c.attendance,
        cast_(null(), String()),
        cast_(null(), BigInteger()),
        _item_at,
        _m.c.id.label("guest_sort_id"),
    )
    .join(_m, _m.c.id == _guest_at.c.member_id)
    .where(
        _guest_at.c.meeting_id == _meeting_id,
        _guest_at.c.kind == _constant(AttendeeKind.GUEST),
    ),
).subquery("item")
_DETAIL = FastQuery(
    select(
        *(_mt.c[name] for name in _DETAIL_FIELDS),
        _org.c.name.label("org_name"),
        _my_att.c.attendance.label("my_attendance"),
        _my_att.c.kind.label("attending_as"),
        _items.c.item_kind,
        _items.c.item_id,
        _items.c.item_text1,
        _items.c.item_text2,
        _items.c.item_text3,
        _items.c.item_size,
    )
    .select_from(_mt)
    .join(_org, _org.c.id == _mt.c.org_id)
    .outerjoin(
        _my_att,
        and_(
            _my_att.c.meeting_id == _mt.c.id,
            _my_att.c.member_id == bindparam("member_id", type_=BigInteger),
        ),
    )
    # Each branch of the union is filtered on the meeting itself, so neither database reads the
    # items of other meetings to join them.
    .outerjoin(_items, _items.c.item_meeting_id == _mt.c.id)
    .where(_mt.c.id == _meeting_id)
    .order_by(_items.c.item_kind, _items.c.item_sort_at, _items.c.item_sort_id)
)


async def read_meeting_lean(reader: Reader, actor: Actor, meeting_id: int) -> dict[str, Any]:
    """`read_meeting` on the lean read path (committed data: never after a write)."""
    rows = await reader.fetch(_DETAIL, {"meeting_id": meeting_id, "member_id": actor.member_id})
    if not rows:
        raise NotFound(code="meeting.not_found")
    first = rows[0]
    return _detail(
        first,
        org_name=first["org_name"],
        mine=first["my_attendance"],
        attending_as=first["attending_as"],
        attachments=[
            {
                "upload_id": r["item_id"],
                "filename": r["item_text1"],
                "content_type": r["item_text2"],
                "size": r["item_size"],
            }
            for r in rows
            if r["item_kind"] == "attachment"
        ],
        documents=[
            {
                "document_id": r["item_id"],
                "number": r["item_text1"],
                "title": r["item_text2"],
                "issuing_body": r["item_text3"],
            }
            for r in rows
            if r["item_kind"] == "document"
        ],
        guests=[
            {"member_id": r["item_id"], "full_name": r["item_text1"], "attendance": r["item_text2"]}
            for r in rows
            if r["item_kind"] == "guest"
        ],
    )


def _time_cursor(cursor: str, sort: str) -> tuple[datetime, int]:
    when, last_id = decode_cursor(cursor, sort, (str, int))
    try:
        at = datetime.fromisoformat(when)
    except ValueError as exc:
        raise InvalidCursor() from exc
    if at.tzinfo is None:
        raise InvalidCursor()
    try:
        return at.astimezone(UTC), last_id
    except OverflowError as exc:  # an offset past the calendar's ends
        raise InvalidCursor() from exc


async def _latest_first(
    session: AsyncSession, query: Select[Any], sort: str, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One keyset page of meetings, latest start first (ties by id)."""
    if cursor:
        at, last_id = _time_cursor(cursor, sort)
        query = query.where(
            or_(_mt.c.starts_at < at, and_(_mt.c.starts_at == at, _mt.c.id < last_id))
        )
    query = query.order_by(_mt.c.starts_at.desc(), _mt.c.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).mappings())
    return page_of(rows, limit, sort, _latest_key)


async def list_org_meetings(
    session: AsyncSession,
    actor: Actor,
    org: OrgTarget,
    *,
    status: MeetingStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A branch's meetings, latest first; drafts only for those who run the branch."""
    query = (
        select(*_SUMMARY_COLUMNS, *_NO_ATTENDANCE)
        .join(_org, _org.c.id == _mt.c.org_id)
        .where(_mt.c.org_id == org.id)
    )
    if not can_manage(actor, org.path):
        query = query.where(_mt.c.status != MeetingStatus.DRAFT)
    if status is not None:
        query = query.where(_mt.c.status == status)
    page, next_cursor = await _latest_first(session, query, "meetings", limit=limit, cursor=cursor)
    return [dict(r) for r in page], next_cursor


# The lean lists: one compiled statement per shape (which filters are present), keyset by
# `_LATEST_FIRST` on the parameters `after_at` and `after_id`, `limit` rows.
_after_at = bindparam("after_at", type_=UTCDateTime())
_BEFORE_CURSOR = or_(
    _mt.c.starts_at < _after_at,
    and_(_mt.c.starts_at == _after_at, _mt.c.id < bindparam("after_id", type_=BigInteger)),
)
_LIMIT = bindparam("limit", type_=Integer)


def _lean_page(
    params: dict[str, Any], sort: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """`params` for one keyset page of a lean list (`LIMIT n+1`, the cursor's key)."""
    params["limit"] = limit + 1
    if cursor:
        params["after_at"], params["after_id"] = _time_cursor(cursor, sort)
    return params


def _latest_key(row: Mapping[str, Any]) -> tuple[str, int]:
    return row["starts_at"].isoformat(), row["id"]


def _my_meetings_query(*, after: bool) -> FastQuery:
    stmt = (
        select(
            *_SUMMARY_COLUMNS,
            _at.c.attendance.label("my_attendance"),
            _at.c.kind.label("attending_as"),
        )
        .select_from(_at)
        .join(_mt, _mt.c.id == _at.c.meeting_id)
        .join(_org, _org.c.id == _mt.c.org_id)
        .where(_at.c.member_id == bindparam("member_id", type_=BigInteger))
    )
    if after:
        stmt = stmt.where(_BEFORE_CURSOR)
    return FastQuery(stmt.order_by(_mt.c.starts_at.desc(), _mt.c.id.desc()).limit(_LIMIT))


_MY_MEETINGS = {after: _my_meetings_query(after=after) for after in (False, True)}


async def list_my_meetings(
    reader: Reader, actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The meetings I am on the list of (as a member of the branch, a guest from an upper level
    or a residence attendee), latest first, with my attendance (on the lean path)."""
    params = _lean_page({"member_id": actor.member_id}, "my-meetings", limit=limit, cursor=cursor)
    rows = await reader.fetch(_MY_MEETINGS[bool(cursor)], params)
    page, next_cursor = page_of(rows, limit, "my-meetings", _latest_key)
    return [dict(r) for r in page], next_cursor


def _local_midnight(day: date | None, rules: RulesSettings, *, days: int = 0) -> datetime | None:
    """The start of the local day `days` after `day` in UTC; None at the calendar's ends (year 1
    or 9999: no meeting lies beyond them, the bound is dropped)."""
    if day is None:
        return None
    try:
        return datetime.combine(
            day + timedelta(days=days), time(0, 0), ZoneInfo(rules.timezone)
        ).astimezone(UTC)
    except OverflowError:
        return None


# (unit, since, until, status, minutes_missing, after) → the subtree list's statement of that
# shape (`unit`: the org's depth where it has an index of its own, `access.UNIT_DEPTHS`, else 0).
_SUBTREE_QUERIES: dict[tuple[int, bool, bool, bool, bool, bool], FastQuery] = {}


def _subtree_query(
    *, depth: int, since: bool, until: bool, status: bool, minutes_missing: bool, after: bool
) -> FastQuery:
    unit = depth if depth in access.UNIT_DEPTHS else 0
    shape = (unit, since, until, status, minutes_missing, after)
    query = _SUBTREE_QUERIES.get(shape)
    if query is not None:
        return query
    stmt = (
        select(
            *_SUMMARY_COLUMNS,
            *_NO_ATTENDANCE,
            _mt.c.closed_at,
            type_coerce(_mt.c.minutes_at.is_not(None), Boolean).label("has_minutes"),
            _mt.c.minutes_at,
            _mt.c.rating,
            _mt.c.upper_rating,
        )
        .join(_org, _org.c.id == _mt.c.org_id)
        .where(
            # The meeting's copy of its branch's path: a ward's or grassroots committee's
            # meetings are one scan of their unit's index, latest first, on PostgreSQL.
            access.in_subtree_sql(_mt.c.org_path, depth),
            _mt.c.status != _constant(MeetingStatus.DRAFT),
        )
    )
    if since:
        stmt = stmt.where(_mt.c.starts_at >= bindparam("since_at", type_=UTCDateTime()))
    if until:
        stmt = stmt.where(_mt.c.starts_at < bindparam("until_at", type_=UTCDateTime()))
    if status:
        stmt = stmt.where(_mt.c.status == bindparam("status", type_=String))
    if minutes_missing:
        stmt = stmt.where(
            _mt.c.status == _constant(MeetingStatus.CLOSED),
            _mt.c.minutes_at.is_(None),
            _mt.c.closed_at <= bindparam("closed_before", type_=UTCDateTime()),
        )
    if after:
        stmt = stmt.where(_BEFORE_CURSOR)
    stmt = stmt.order_by(_mt.c.starts_at.desc(), _mt.c.id.desc()).limit(_LIMIT)
    # Anchored on one unit, its best plan does not depend on the values bound; a path range's
    # (the province, a branch) does.
    query = _SUBTREE_QUERIES[shape] = FastQuery(stmt, generic=bool(unit))
    return query


# The window the province's page is looked for in first (`list_subtree_meetings`): its wards
# and grassroots committees have indexes of their own (`access.UNIT_DEPTHS`).
_PROBE_DAYS = 62


def _probe_since(
    org: OrgTarget, params: Mapping[str, Any], since_at: datetime | None
) -> datetime | None:
    if org.is_branch or access.depth_of(org.path) != 0:
        return None
    anchor: datetime = params.get("after_at") or utcnow()
    probe = anchor - timedelta(days=_PROBE_DAYS)
    return probe if since_at is None or probe > since_at else None


async def list_subtree_meetings(
    reader: Reader,
    org: OrgTarget,
    *,
    since: date | None,
    until: date | None,
    status: MeetingStatus | None,
    minutes_missing: bool,
    rules: RulesSettings,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Meetings of every branch under `org`, latest first (on the lean path): the upper
    level's view of minutes and ratings ("closed 48 h ago without minutes" with
    `minutes_missing`). Drafts are never listed. The caller's guard holds `meeting.view` on
    `org`, and a permission held on an org covers its whole subtree: the subtree is the scope."""
    params: dict[str, Any] = access.subtree_params(org.path)
    since_at = _local_midnight(since, rules)
    until_at = _local_midnight(until, rules, days=1)
    if since_at is not None:
        params["since_at"] = since_at
    if until_at is not None:
        params["until_at"] = until_at
    if status is not None:
        params["status"] = status.value
    if minutes_missing:
        params["closed_before"] = utcnow() - timedelta(hours=rules.minutes_due_h)
    params = _lean_page(params, "subtree-meetings", limit=limit, cursor=cursor)
    shape = {
        "until": until_at is not None,
        "status": status is not None,
        "minutes_missing": minutes_missing,
        "after": bool(cursor),
    }
    depth = access.depth_of(org.path)
    rows: Sequence[Mapping[str, Any]] = ()
    probe = _probe_since(org, params, since_at)
    if probe is not None:
        # The province's page: the branches' meetings of the last two months first (a few
        # thousand rows instead of every meeting of the year to sort). Enough rows there
        # means the page is theirs: every meeting left out started earlier than all of them.
        rows = await reader.fetch(
            _subtree_query(depth=depth, since=True, **shape), {**params, "since_at": probe}
        )
    if len(rows) < params["limit"]:
        rows = await reader.fetch(
            _subtree_query(depth=depth, since=since_at is not None, **shape), params
        )
    page, next_cursor = page_of(rows, limit, "subtree-meetings", _latest_key)
    return [dict(r) for r in page], next_cursor


# --- writing --------------------------------------------------------------------------------------


async def lock(session: AsyncSession, meeting_id: int) -> Meeting:
    meeting = await session.get(Meeting, meeting_id, with_for_update=True, populate_existing=True)
    if meeting is None:
        raise NotFound(code="meeting.not_found")
    return meeting


def _snapshot(meeting: Meeting) -> dict[str, Any]:
    return {
        "kind": meeting.kind,
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "place": meeting.place,
        "online_url": meeting.online_url,
        "agenda": meeting.agenda,
        "status": meeting.status,
        "has_residence_attendees": meeting.has_residence_attendees,
    }


async def _attach(
    session: AsyncSession, actor: Actor, meeting: Meeting, upload_ids: Sequence[int]
) -> None:
    for upload_id in dict.fromkeys(upload_ids):
        upload = await upload_records.take(
            session, actor, upload_id, purpose=UploadPurpose.DOCUMENT
        )
        session.add(MeetingAttachment(meeting_id=meeting.id, upload_id=upload.id))
    await session.flush()


async def _attach_documents(
    session: AsyncSession, meeting: Meeting, document_ids: Sequence[int]
) -> None:
    """Attach published documents that reach the branch (its own or a committee's above it);
    one that does not, or does not exist, refuses the whole write."""
    wanted = list(dict.fromkeys(document_ids))
    if not wanted:
        return
    branch_path = str(
        await session.scalar(select(_org.c.path).where(_org.c.id == meeting.org_id)) or ""
    )
    found = {
        row.id: row.path
        for row in (
            await session.execute(
                select(_doc.c.id, _org.c.path)
                .join(_org, _org.c.id == _doc.c.org_id)
                .where(_doc.c.id.in_(wanted), _doc.c.status == DocumentStatus.PUBLISHED)
            )
        ).all()
    }
    unavailable = [i for i in wanted if i not in found or not in_subtree(branch_path, found[i])]
    if unavailable:
        raise Unprocessable(
            "Văn bản không tồn tại hoặc không được gửi tới chi bộ này: "
            + ", ".join(str(i) for i in unavailable),
            code="meeting.document_unavailable",
        )
    attached = set(
        await session.scalars(
            select(_mdoc.c.document_id).where(
                _mdoc.c.meeting_id == meeting.id, _mdoc.c.document_id.in_(wanted)
            )
        )
    )
    now = utcnow()
    rows = [
        {"meeting_id": meeting.id, "document_id": i, "added_at": now}
        for i in wanted
        if i not in attached
    ]
    if rows:
        await session.execute(insert(MeetingDocument), rows)


async def create_meeting(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: MeetingCreate
) -> int:
    if not org.is_branch:
        raise Unprocessable("Chỉ chi bộ mới tổ chức sinh hoạt chi bộ.", code="meeting.not_branch")
    _check_times(body.starts_at, body.ends_at, utcnow())
    residents = body.has_residence_attendees
    if residents is None:  # the branch's setting
        residents = bool(
            await session.scalar(select(_org.c.has_residence_attendees).where(_org.c.id == org.id))
        )
    meeting = Meeting(
        org_id=org.id,
        org_path=org.path,
        has_residence_attendees=residents,
        kind=body.kind,
        status=MeetingStatus.DRAFT,
        title=body.title,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        place=body.place,
        online_url=body.online_url,
        agenda=[item.model_dump() for item in body.agenda],
        qr_secret=secrets.token_hex(32),
        created_by_id=actor.member_id,
    )
    session.add(meeting)
    await session.flush()
    await _attach(session, actor, meeting, body.attachment_upload_ids)
    await _attach_documents(session, meeting, body.document_ids)
    await audit.record(
        session,
        actor,
        "meeting.create",
        target=("meeting", meeting.id),
        org_id=org.id,
        detail={"title": meeting.title, "starts_at": meeting.starts_at},
    )
    return meeting.id


async def update_meeting(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    body: MeetingUpdate,
    if_match: IfMatch | None,
    rules: RulesSettings,
) -> None:
    meeting = await lock(session, target.id)
    etag_check(if_match, meeting.version)
    if meeting.status not in EDITABLE:
        raise wrong_status(meeting, "draft, announced")
    fields = body.model_dump(exclude_unset=True)
    new_uploads = fields.pop("attachment_upload_ids", None) or []
    new_documents = fields.pop("document_ids", None) or []
    if meeting.status != MeetingStatus.DRAFT and ("starts_at" in fields or "ends_at" in fields):
        raise Conflict(
            "Cuộc họp đã thông báo: hãy dùng chức năng dời lịch (kèm lý do).",
            code="meeting.use_reschedule",
        )
    before = _snapshot(meeting)
    if "starts_at" in fields or "ends_at" in fields:
        starts_at = fields.get("starts_at") or meeting.starts_at
        ends_at = fields.get("ends_at") or meeting.ends_at
        _check_times(starts_at, ends_at, utcnow())
        meeting.starts_at, meeting.ends_at = starts_at, ends_at
    for name in ("kind", "title", "place", "online_url", "has_residence_attendees"):
        if name in fields:
            setattr(meeting, name, fields[name])
    if "agenda" in fields:
        meeting.agenda = list(fields["agenda"] or [])
    meeting.updated_at = utcnow()
    await session.flush()
    await _attach(session, actor, meeting, new_uploads)
    await _attach_documents(session, meeting, new_documents)
    if meeting.status == MeetingStatus.ANNOUNCED:
        await refresh_snapshot(session, meeting)
        await schedule_reminders(session, meeting, rules)
    await audit.record(
        session,
        actor,
        "meeting.update",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        changes=audit.changes(before, _snapshot(meeting)),
        detail={"attached": list(new_uploads), "documents": list(new_documents)}
        if new_uploads or new_documents
        else None,
    )


def _residents_query(meeting: Meeting) -> Select[Any]:
    """The members attached to the meeting's branch for residence (an open residence period:
    periods never start in the future) whose own branch is another."""
    return (
        select(_m.c.id, _m.c.status, _m.c.is_exempt)
        .join(_period, _period.c.member_id == _m.c.id)
        .where(
            _period.c.org_id == meeting.org_id,
            _period.c.kind == AttachmentKind.RESIDENCE,
            _period.c.valid_to.is_(None),
            _m.c.branch_id != meeting.org_id,
            _m.c.archived_on.is_(None),
        )
    )


async def refresh_snapshot(session: AsyncSession, meeting: Meeting) -> list[int]:
    """Bring the list up to date with the branch (until the start): new members summoned,
    status and exemption copied, members who left and recorded nothing removed; the members
    attached for residence likewise (`residence` rows) when the meeting summons them. Guests
    stay as the secretary set them. Returns every listed member's id (members, residence
    attendees and guests: whom the meeting's notices reach)."""
    members = (
        await session.execute(
            select(_m.c.id, _m.c.status, _m.c.is_exempt).where(_m.c.branch_id == meeting.org_id)
        )
    ).all()
    wanted: dict[int, tuple[str, Any]] = {}
    if meeting.has_residence_attendees:
        for row in (await session.execute(_residents_query(meeting))).all():
            wanted[row.id] = (AttendeeKind.RESIDENCE, row)
    for row in members:
        wanted[row.id] = (AttendeeKind.MEMBER, row)
    existing = {
        row.member_id: row
        for row in (
            await session.execute(
                select(
                    _at.c.member_id,
                    _at.c.kind,
                    _at.c.member_status,
                    _at.c.is_exempt,
                    _at.c.attendance,
                )
                .where(_at.c.meeting_id == meeting.id)
                .with_for_update()
            )
        ).all()
    }
    now = utcnow()
    new_rows = [
        {
            "meeting_id": meeting.id,
            "member_id": member_id,
            "kind": kind,
            "member_status": row.status,
            "is_exempt": row.is_exempt,
            "attendance": Attendance.PENDING,
            "updated_at": now,
        }
        for member_id, (kind, row) in wanted.items()
        if member_id not in existing
    ]
    if new_rows:
        await session.execute(insert(_at), new_rows)
    for member_id, old in existing.items():
        if member_id not in wanted:
            continue
        kind, row = wanted[member_id]
        if old.kind == AttendeeKind.GUEST and kind != AttendeeKind.MEMBER:
            continue  # invited as a guest: stays one (unless they joined the branch)
        if old.kind != kind or old.member_status != row.status or old.is_exempt != row.is_exempt:
            await session.execute(
                update(_at)
                .where(_at.c.meeting_id == meeting.id, _at.c.member_id == member_id)
                .values(
                    kind=kind, member_status=row.status, is_exempt=row.is_exempt, updated_at=now
                )
            )
    gone = [
        member_id
        for member_id, old in existing.items()
        if member_id not in wanted
        and old.kind != AttendeeKind.GUEST
        and old.attendance == Attendance.PENDING
    ]
    if gone:
        await session.execute(
            delete(_at).where(_at.c.meeting_id == meeting.id, _at.c.member_id.in_(gone))
        )
    return sorted(set(wanted) | (set(existing) - set(gone)))


def _local(when: datetime, rules: RulesSettings) -> datetime:
    return when.astimezone(ZoneInfo(rules.timezone))


def describe_time(when: datetime, rules: RulesSettings) -> str:
    local = _local(when, rules)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def reminder_times(starts_at: datetime, rules: RulesSettings) -> dict[str, datetime]:
    local = _local(starts_at, rules)
    day_before = datetime.combine(
        local.date() - timedelta(days=1), rules.reminder_day_before_at, tzinfo=local.tzinfo
    )
    return {
        "day-before": day_before.astimezone(starts_at.tzinfo),
        "hours-before": starts_at - timedelta(hours=rules.reminder_hours_before),
    }


def reminder_key(meeting_id: int, which: str) -> str:
    return f"meeting:{meeting_id}:reminder:{which}"


async def schedule_reminders(session: AsyncSession, meeting: Meeting, rules: RulesSettings) -> None:
    """(Re)schedule both reminders for the summoned members who have done nothing yet; a
    reminder whose time has passed, or with nobody left to remind, is cancelled."""
    pending = list(
        (
            await session.scalars(
                select(_at.c.member_id).where(
                    _at.c.meeting_id == meeting.id, _at.c.attendance == Attendance.PENDING
                )
            )
        ).all()
    )
    now = utcnow()
    where = meeting.place or meeting.online_url or ""
    for which, at in reminder_times(meeting.starts_at, rules).items():
        key = reminder_key(meeting.id, which)
        if at <= now or not pending or meeting.status != MeetingStatus.ANNOUNCED:
            await notices.cancel_notice(session, key)
            continue
        await notices.schedule_notice(
            session,
            key,
            at=at,
            kind=NoticeKind.MEETING_REMINDER,
            title=f"Nhắc lịch: {meeting.title}",
            body=f"Sinh hoạt lúc {describe_time(meeting.starts_at, rules)}. {where}".strip(),
            data={"meeting_id": meeting.id},
            audience=Audience(member_ids=pending),
            expires_at=meeting.starts_at,
        )


async def cancel_reminders(session: AsyncSession, meeting_id: int) -> None:
    for which in REMINDERS:
        await notices.cancel_notice(session, reminder_key(meeting_id, which))


async def notify_members(
    session: AsyncSession,
    actor: Actor,
    meeting: Meeting,
    summoned: Sequence[int],
    title: str,
    body: str,
) -> None:
    if summoned:
        await notices.notify(
            session,
            kind=NoticeKind.MEETING,
            title=title,
            body=body,
            data={"meeting_id": meeting.id},
            audience=Audience(member_ids=summoned),
            created_by_id=actor.member_id,
        )


async def guest_ids(session: AsyncSession, meeting_id: int) -> list[int]:
    """The meeting's guests from upper levels."""
    return list(
        (
            await session.scalars(
                select(_at.c.member_id)
                .where(_at.c.meeting_id == meeting_id, _at.c.kind == AttendeeKind.GUEST)
                .order_by(_at.c.member_id)
            )
        ).all()
    )


async def invite_guests(
    session: AsyncSession,
    meeting: Meeting,
    guests: Sequence[int],
    rules: RulesSettings,
    *,
    created_by_id: int | None,
) -> None:
    """The invitation of guests (at announce, or at once to an announced meeting)."""
    if not guests:
        return
    org_name = await session.scalar(select(_org.c.name).where(_org.c.id == meeting.org_id))
    where = meeting.place or meeting.online_url or ""
    await notices.notify(
        session,
        kind=NoticeKind.MEETING,
        title=f"Mời dự sinh hoạt: {meeting.title}",
        body=f"Đồng chí được mời dự sinh hoạt của {org_name} lúc "
        f"{describe_time(meeting.starts_at, rules)}. {where}".strip(),
        data={"meeting_id": meeting.id},
        audience=Audience(member_ids=guests),
        created_by_id=created_by_id,
    )


async def announce_meeting(
    session: AsyncSession, actor: Actor, target: MeetingTarget, rules: RulesSettings
) -> None:
    meeting = await lock(session, target.id)
    if meeting.status != MeetingStatus.DRAFT:
        raise wrong_status(meeting, "draft")
    now = utcnow()
    if meeting.starts_at <= now:
        raise Unprocessable("Thời gian bắt đầu đã qua: hãy sửa lịch trước.", code="meeting.in_past")
    meeting.status = MeetingStatus.ANNOUNCED
    meeting.announced_at = now
    await session.flush()
    summoned = await refresh_snapshot(session, meeting)
    guests = set(await guest_ids(session, meeting.id))
    where = meeting.place or meeting.online_url or ""
    await notify_members(
        session,
        actor,
        meeting,
        [member_id for member_id in summoned if member_id not in guests],
        f"Lịch sinh hoạt: {meeting.title}",
        f"Sinh hoạt lúc {describe_time(meeting.starts_at, rules)}. {where}".strip(),
    )
    await invite_guests(session, meeting, sorted(guests), rules, created_by_id=actor.member_id)
    await schedule_reminders(session, meeting, rules)
    await audit.record(
        session,
        actor,
        "meeting.announce",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"summoned": len(summoned)},
    )


async def start_meeting(
    session: AsyncSession, actor: Actor, target: MeetingTarget, rules: RulesSettings
) -> None:
    meeting = await lock(session, target.id)
    if meeting.status != MeetingStatus.ANNOUNCED:
        raise wrong_status(meeting, "announced")
    now = utcnow()
    if now < meeting.starts_at - timedelta(minutes=rules.checkin_opens_before_min):
        raise Conflict("Chưa đến giờ bắt đầu cuộc họp.", code="meeting.too_early")
    await refresh_snapshot(session, meeting)  # the last refresh: frozen from here on
    meeting.status = MeetingStatus.STARTED
    meeting.started_at = now
    await session.flush()
    await cancel_reminders(session, meeting.id)
    await audit.record(
        session, actor, "meeting.start", target=("meeting", meeting.id), org_id=meeting.org_id
    )


def minutes_key(meeting_id: int) -> str:
    return f"meeting:{meeting_id}:minutes-due"


async def branch_runner_ids(session: AsyncSession, org_id: int) -> list[int]:
    """The branch's secretary and deputy secretaries (live grants on the branch itself)."""
    return list(
        (
            await session.scalars(
                select(_grant.c.member_id)
                .where(
                    _grant.c.org_id == org_id,
                    _grant.c.role.in_([Role.SECRETARY, Role.DEPUTY_SECRETARY]),
                    _grant.c.revoked_at.is_(None),
                )
                .order_by(_grant.c.member_id)
            )
        ).all()
    )


async def _schedule_minutes_reminder(
    session: AsyncSession, meeting: Meeting, rules: RulesSettings
) -> None:
    """Remind the secretary and deputy when the minutes are still missing `minutes_due_h` hours
    after the meeting closed (cancelled when the minutes arrive)."""
    runners = await branch_runner_ids(session, meeting.org_id)
    if not runners or meeting.closed_at is None:
        return
    await notices.schedule_notice(
        session,
        minutes_key(meeting.id),
        at=meeting.closed_at + timedelta(hours=rules.minutes_due_h),
        kind=NoticeKind.MEETING,
        title=f"Chưa có biên bản: {meeting.title}",
        body=f"Cuộc họp đã kết thúc {rules.minutes_due_h} giờ mà chưa có biên bản.",
        data={"meeting_id": meeting.id},
        audience=Audience(member_ids=runners),
    )


async def attended_member_ids(session: AsyncSession, meeting_id: int) -> list[int]:
    """The branch's members who attended (present at close): the one place attendance-based
    rewards (study points) are computed from. Guests and residence attendees are recorded
    present but earn their points at their own branch's meetings."""
    return list(
        (
            await session.scalars(
                select(_at.c.member_id)
                .where(
                    _at.c.meeting_id == meeting_id,
                    _at.c.kind == AttendeeKind.MEMBER,
                    _at.c.attendance == Attendance.PRESENT,
                )
                .order_by(_at.c.member_id)
            )
        ).all()
    )


async def close_meeting(
    session: AsyncSession, actor: Actor, target: MeetingTarget, rules: RulesSettings
) -> list[int]:
    """Close: open motions are closed with their results, the summoned non-exempt members of
    the branch who neither came nor excused themselves are recorded absent (guests and
    residence attendees never are: they stay `pending`). Returns who attended."""
    from app.services.meetings import motions as motion_service  # motions import this module

    meeting = await lock(session, target.id)
    if meeting.status != MeetingStatus.STARTED:
        raise wrong_status(meeting, "started")
    await motion_service.close_open_motions(session, meeting, rules)
    now = utcnow()
    await session.execute(
        update(_at)
        .where(
            _at.c.meeting_id == meeting.id,
            _at.c.kind == AttendeeKind.MEMBER,
            _at.c.attendance == Attendance.PENDING,
            _at.c.is_exempt.is_(False),
        )
        .values(attendance=Attendance.ABSENT, updated_at=now)
    )
    meeting.status = MeetingStatus.CLOSED
    meeting.closed_at = now
    await session.flush()
    if meeting.minutes_at is None:
        await _schedule_minutes_reminder(session, meeting, rules)
    attended = await attended_member_ids(session, meeting.id)
    # Study points for attending, once per member and meeting (the ledger's source key).
    in_force = await rules_service.fresh(session, get_settings().rules)
    meeting_points = points.rule_points(in_force, PointSource.MEETING)
    for member_id in attended:
        await points.award(
            session,
            member_id=member_id,
            points=meeting_points,
            source=PointSource.MEETING,
            source_key=f"meeting:{meeting.id}:member:{member_id}",
            reason=f"Dự sinh hoạt: {meeting.title}"[:200],
        )
    await audit.record(
        session,
        actor,
        "meeting.close",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"attended": len(attended)},
    )
    return attended


async def cancel_meeting(
    session: AsyncSession, actor: Actor, target: MeetingTarget, reason: str
) -> None:
    meeting = await lock(session, target.id)
    if meeting.status not in EDITABLE:
        raise wrong_status(meeting, "draft, announced")
    await _cancel(session, actor, meeting, reason)


async def cancel_upcoming(
    session: AsyncSession, actor: Actor, org_id: int, reason: str, *, since: datetime
) -> int:
    """Cancel the org's meetings not yet held (draft or announced) that start at `since` or
    later, each as `cancel_meeting` does (reminders off, the summoned told why, audited).
    Returns how many were cancelled."""
    meetings = list(
        await session.scalars(
            select(Meeting)
            .where(
                Meeting.org_id == org_id,
                Meeting.status.in_(list(EDITABLE)),
                Meeting.starts_at >= since,
            )
            .order_by(Meeting.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for meeting in meetings:
        await _cancel(session, actor, meeting, reason)
    return len(meetings)


async def _cancel(session: AsyncSession, actor: Actor, meeting: Meeting, reason: str) -> None:
    was_announced = meeting.status == MeetingStatus.ANNOUNCED
    meeting.status = MeetingStatus.CANCELLED
    meeting.cancelled_at = utcnow()
    meeting.cancel_reason = reason
    await session.flush()
    await cancel_reminders(session, meeting.id)
    if was_announced:
        summoned = list(
            (
                await session.scalars(select(_at.c.member_id).where(_at.c.meeting_id == meeting.id))
            ).all()
        )
        await notify_members(
            session, actor, meeting, summoned, f"Hủy lịch: {meeting.title}", f"Lý do: {reason}"
        )
    await audit.record(
        session,
        actor,
        "meeting.cancel",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"reason": reason},
    )


async def reschedule_meeting(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    body: MeetingReschedule,
    if_match: IfMatch | None,
    rules: RulesSettings,
) -> None:
    meeting = await lock(session, target.id)
    etag_check(if_match, meeting.version)
    if meeting.status not in EDITABLE:
        raise wrong_status(meeting, "draft, announced")
    _check_times(body.starts_at, body.ends_at, utcnow())
    before = _snapshot(meeting)
    meeting.starts_at, meeting.ends_at = body.starts_at, body.ends_at
    meeting.reschedule_reason = body.reason
    await session.flush()
    if meeting.status == MeetingStatus.ANNOUNCED:
        summoned = await refresh_snapshot(session, meeting)
        await schedule_reminders(session, meeting, rules)
        await notify_members(
            session,
            actor,
            meeting,
            summoned,
            f"Dời lịch: {meeting.title}",
            f"Sinh hoạt chuyển sang {describe_time(meeting.starts_at, rules)}. "
            f"Lý do: {body.reason}",
        )
    await audit.record(
        session,
        actor,
        "meeting.reschedule",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        changes=audit.changes(before, _snapshot(meeting)),
        detail={"reason": body.reason},
    )


# --- after the meeting ----------------------------------------------------------------------------


async def set_minutes(
    session: AsyncSession,
    actor: Actor,
    target: MeetingTarget,
    body: MinutesUpdate,
    if_match: IfMatch | None,
) -> None:
    meeting = await lock(session, target.id)
    etag_check(if_match, meeting.version)
    if meeting.status not in (MeetingStatus.STARTED, MeetingStatus.CLOSED):
        raise wrong_status(meeting, "started, closed")
    if body.upload_id is None and not body.text:
        raise Unprocessable(
            "Cần tệp biên bản hoặc nội dung biên bản.", code="meeting.minutes_empty"
        )
    if body.upload_id is not None and body.upload_id != meeting.minutes_upload_id:
        upload = await upload_records.take(
            session, actor, body.upload_id, purpose=UploadPurpose.DOCUMENT
        )
        meeting.minutes_upload_id = upload.id
    if body.text is not None:
        meeting.minutes_text = body.text
    meeting.minutes_at = utcnow()
    await session.flush()
    await notices.cancel_notice(session, minutes_key(meeting.id))
    await audit.record(
        session,
        actor,
        "meeting.minutes",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        detail={"upload_id": meeting.minutes_upload_id, "has_text": bool(meeting.minutes_text)},
    )


async def rate_meeting(
    session: AsyncSession, actor: Actor, target: MeetingTarget, rating: str, *, upper: bool
) -> None:
    """The branch's own rating (`upper=False`), or the upper level's (held from above)."""
    if upper and not access.can_from_above(actor, Permission.MEETING_REVIEW, target.path):
        raise Forbidden(
            "Chỉ cấp ủy cấp trên mới xếp loại cuộc họp của chi bộ.", code="meeting.not_upper_level"
        )
    meeting = await lock(session, target.id)
    if meeting.status != MeetingStatus.CLOSED:
        raise Conflict("Chỉ xếp loại cuộc họp đã kết thúc.", code="meeting.not_closed")
    before = {"rating": meeting.rating, "upper_rating": meeting.upper_rating}
    if upper:
        meeting.upper_rating = rating
        meeting.upper_rated_by_id = actor.member_id
    else:
        meeting.rating = rating
    await session.flush()
    await audit.record(
        session,
        actor,
        "meeting.upper_rate" if upper else "meeting.rate",
        target=("meeting", meeting.id),
        org_id=meeting.org_id,
        changes=audit.changes(
            before, {"rating": meeting.rating, "upper_rating": meeting.upper_rating}
        ),
    )


# --- comments -------------------------------------------------------------------------------------


async def create_comment(
    session: AsyncSession, actor: Actor, target: MeetingTarget, body: CommentCreate
) -> dict[str, Any]:
    """Summoned members comment (absent ones too, with written opinions); leadership above
    comments on the branch's meetings and minutes."""
    meeting = await session.get(Meeting, target.id, populate_existing=True)
    if meeting is None:
        raise NotFound(code="meeting.not_found")
    if meeting.status in (MeetingStatus.DRAFT, MeetingStatus.CANCELLED):
        raise wrong_status(meeting, "announced, started, closed")
    summoned = await session.scalar(
        select(func.count()).where(
            _at.c.meeting_id == meeting.id, _at.c.member_id == actor.member_id
        )
    )
    if not summoned and not access.can_from_above(actor, Permission.MEETING_REVIEW, target.path):
        raise Forbidden("Bạn không được triệu tập dự cuộc họp này.", code="meeting.not_summoned")
    if body.agenda_item is not None and body.agenda_item >= len(meeting.agenda):
        raise Unprocessable("Không có mục chương trình này.", code="meeting.no_such_agenda_item")
    comment = MeetingComment(
        meeting_id=meeting.id,
        member_id=actor.member_id,
        agenda_item=body.agenda_item,
        is_written_opinion=body.is_written_opinion,
        body=body.body,
        created_at=utcnow(),
    )
    session.add(comment)
    await session.flush()
    return {
        "id": comment.id,
        "member_id": actor.member_id,
        "full_name": actor.full_name,
        "agenda_item": comment.agenda_item,
        "is_written_opinion": comment.is_written_opinion,
        "body": comment.body,
        "created_at": comment.created_at,
    }


async def list_comments(
    session: AsyncSession, target: MeetingTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = (
        select(
            _cm.c.id,
            _cm.c.member_id,
            _m.c.full_name,
            _cm.c.agenda_item,
            _cm.c.is_written_opinion,
            _cm.c.body,
            _cm.c.created_at,
        )
        .join(_m, _m.c.id == _cm.c.member_id)
        .where(_cm.c.meeting_id == target.id)
    )
    if cursor:
        (last_id,) = decode_cursor(cursor, "comments", (int,))
        query = query.where(_cm.c.id > last_id)
    rows = list((await session.execute(query.order_by(_cm.c.id).limit(limit + 1))).mappings())
    page, next_cursor = page_of(rows, limit, "comments", lambda r: (r["id"],))
    return [dict(r) for r in page], next_cursor
