"""The actor of a request: a verified access token turned into an `Actor` in one round trip on
the lean read path (the member, their branch, their residence branch, live roles, and whether
the session still holds). Work done later on a member's behalf (an import's jobs, the CLI) builds
the actor from the member's rows as they are then (`member_actor`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import FromClause

from app.core.db import FastQuery, Reader, Row
from app.core.errors import Unauthorized
from app.core.security import AccessClaims
from app.models import (
    AttachmentKind,
    AuthSession,
    Document,
    DocumentReceipt,
    Meeting,
    MeetingAttendee,
    MeetingStatus,
    Member,
    MembershipPeriod,
    Notification,
    Org,
    Role,
    RoleGrant,
    Task,
    TaskStatus,
)
from app.models.base import UTCDateTime, utcnow
from app.services import points as points_service
from app.services.access import Actor, RoleHolding, on_path

_session_t = AuthSession.__table__
_member_t = Member.__table__
_grant_t = RoleGrant.__table__
_branch_t = aliased(Org.__table__, name="branch")
_role_org_t = aliased(Org.__table__, name="role_org")
_period_t = MembershipPeriod.__table__
_residence_org_t = aliased(Org.__table__, name="residence_org")


def _constant(value: str) -> ColumnElement[str]:
    """A fixed string in the SQL itself (the lean reader binds only named parameters)."""
    assert value.isidentifier()  # noqa: S101 - enum values only, never input
    return literal_column(f"'{value}'")


# The branch the member is attached to where they live (an open residence period: periods
# never start in the future, and ending one closes it that day), on the member's index.
_residence_path = (
    select(_residence_org_t.c.path)
    .select_from(_period_t)
    .join(_residence_org_t, _residence_org_t.c.id == _period_t.c.org_id)
    .where(
        _period_t.c.member_id == _member_t.c.id,
        _period_t.c.kind == _constant(AttachmentKind.RESIDENCE),
        _period_t.c.valid_to.is_(None),
        _residence_org_t.c.is_active.is_(True),
    )
    .limit(literal_column("1"))
    .correlate(_member_t)
    .scalar_subquery()
)

_ACTOR_QUERY = (
    select(
        _member_t.c.id.label("member_id"),
        _member_t.c.full_name,
        _member_t.c.phone,
        _member_t.c.status,
        _member_t.c.is_exempt,
        _member_t.c.is_locked,
        _member_t.c.branch_id,
        _branch_t.c.name.label("branch_name"),
        _branch_t.c.path.label("branch_path"),
        _residence_path.label("residence_path"),
        _session_t.c.expires_at.label("session_expires_at"),
        _grant_t.c.id.label("grant_id"),
        _grant_t.c.role,
        _role_org_t.c.id.label("role_org_id"),
        _role_org_t.c.name.label("role_org_name"),
        _role_org_t.c.kind.label("role_org_kind"),
        _role_org_t.c.path.label("role_org_path"),
    )
    .select_from(_session_t)
    .join(_member_t, _member_t.c.id == _session_t.c.member_id)
    .join(_branch_t, _branch_t.c.id == _member_t.c.branch_id)
    .outerjoin(
        _grant_t,
        and_(_grant_t.c.member_id == _member_t.c.id, _grant_t.c.revoked_at.is_(None)),
    )
    .outerjoin(_role_org_t, _role_org_t.c.id == _grant_t.c.org_id)
    .where(
        _session_t.c.id == bindparam("sid", type_=String),
        _session_t.c.member_id == bindparam("sub", type_=BigInteger),
        _session_t.c.revoked_at.is_(None),
    )
    .order_by(_grant_t.c.id)
)
_ACTOR = FastQuery(_ACTOR_QUERY)
# The same, with what the home screen shows: unread notifications and documents, my next meeting
# (announced or under way) with my attendance, my open tasks. `/me/home` in one round trip.
_notification_t = Notification.__table__
_document_t = Document.__table__
_receipt_t = DocumentReceipt.__table__
_attendee_t = MeetingAttendee.__table__
_meeting_t = Meeting.__table__
_task_t = Task.__table__


_next_meeting_id = (
    select(_meeting_t.c.id)
    .select_from(_attendee_t)
    .join(_meeting_t, _meeting_t.c.id == _attendee_t.c.meeting_id)
    .where(
        _attendee_t.c.member_id == _member_t.c.id,
        _meeting_t.c.status.in_(
            [_constant(MeetingStatus.ANNOUNCED), _constant(MeetingStatus.STARTED)]
        ),
        _meeting_t.c.ends_at > bindparam("now", type_=UTCDateTime()),
    )
    .order_by(_meeting_t.c.starts_at, _meeting_t.c.id)
    .limit(literal_column("1"))
    .correlate(_member_t)
    .scalar_subquery()
)
_next_t = aliased(_meeting_t, name="next_meeting")
_my_attendance_t = aliased(_attendee_t, name="my_attendance")
_HOME = FastQuery(
    _ACTOR_QUERY.outerjoin(_next_t, _next_t.c.id == _next_meeting_id)
    .outerjoin(
        _my_attendance_t,
        and_(
            _my_attendance_t.c.meeting_id == _next_t.c.id,
            _my_attendance_t.c.member_id == _member_t.c.id,
        ),
    )
    .add_columns(
        select(func.count())
        .where(
            _notification_t.c.member_id == _member_t.c.id,
            _notification_t.c.read_at.is_(None),
        )
        .scalar_subquery()
        .label("unread_notifications"),
        # Published documents of the member's branch and the orgs above it, never opened.
        select(func.count())
        .select_from(_document_t)
        .where(
            on_path(_document_t.c.org_id, _member_t.c.org_path),
            _document_t.c.status == literal_column("'published'"),
            ~exists()
            .where(
                _receipt_t.c.document_id == _document_t.c.id,
                _receipt_t.c.member_id == _member_t.c.id,
            )
            .correlate_except(_receipt_t),
        )
        .scalar_subquery()
        .label("unread_documents"),
        _next_t.c.id.label("next_meeting_id"),
        _next_t.c.title.label("next_meeting_title"),
        _next_t.c.status.label("next_meeting_status"),
        _next_t.c.starts_at.label("next_meeting_starts_at"),
        _next_t.c.place.label("next_meeting_place"),
        _my_attendance_t.c.attendance.label("next_meeting_attendance"),
        select(func.count())
        .where(
            _task_t.c.assignee_id == _member_t.c.id, _task_t.c.status == _constant(TaskStatus.OPEN)
        )
        .scalar_subquery()
        .label("open_tasks"),
        # This year's study points (the yearly balance kept by services.points).
        points_service.year_points_column(_member_t.c.id),
    )
)


# The parameter naming a guard's object in an `extended` query (`api.deps.JoinedTarget`).
TARGET_ID = "target_id"


def target_id() -> ColumnElement[int]:
    """The id of the object a guard reads in the actor's query (bound to the path's id)."""
    return bindparam(TARGET_ID, type_=BigInteger)


def with_org_object(table: FromClause, *extra: str) -> Callable[[Select[Any]], Select[Any]]:
    """The guard's target of the common shape, read in the actor's query: an object of `table`
    (its `id`, `org_id` and `status`, and the `extra` columns a guard's decision needs) with its
    org's path, labelled `target_*` (see `org_object_fields`). Documents, meetings and the
    check-in's meeting are read so by their guards."""
    target = table.alias(f"target_{getattr(table, 'name', 'object')}")
    target_org = Org.__table__.alias("target_org")

    def extend(actor_query: Select[Any]) -> Select[Any]:
        return actor_query.outerjoin(
            target.join(target_org, target_org.c.id == target.c.org_id),
            target.c.id == target_id(),
        ).add_columns(
            target.c.id.label("target_id"),
            target.c.org_id.label("target_org_id"),
            target.c.status.label("target_status"),
            target_org.c.path.label("target_path"),
            *(target.c[name].label(f"target_{name}") for name in extra),
        )

    return extend


def org_object_fields(row: Row) -> dict[str, Any] | None:
    """The fields of a `with_org_object` target (`id`, `org_id`, `path`, `status`), `None`
    when the object does not exist."""
    if row["target_id"] is None:
        return None
    return {
        "id": row["target_id"],
        "org_id": row["target_org_id"],
        "path": row["target_path"],
        "status": row["target_status"],
    }


def extended(extend: Callable[[Select[Any]], Select[Any]]) -> FastQuery:
    """The actor query with a route's own read added (outer joins and labelled columns, its
    `ORDER BY` after the actor's): the actor and what the route shows in one round trip, as
    `/me/home` does. The joins may repeat the actor's rows (one per joined row, for each role
    held: see `load_extended`)."""
    return FastQuery(extend(_ACTOR_QUERY))


@dataclass(frozen=True, slots=True)
class ActorRows:
    """The actor and the rows of their route's own read (see `extended`), with the parameters
    the read was bound to."""

    actor: Actor
    rows: Sequence[Row]
    params: Mapping[str, object]


async def load_extended(
    reader: Reader, query: FastQuery, claims: AccessClaims, params: Mapping[str, object]
) -> ActorRows:
    """`load_actor` on an `extended` query: the actor, and the rows of their first role (or of
    none), which carry the route's columns once each."""
    actor, rows = await _load(reader, query, claims, **params)
    first_grant = rows[0]["grant_id"]
    return ActorRows(actor, [row for row in rows if row["grant_id"] == first_grant], params)


async def load_actor(reader: Reader, claims: AccessClaims) -> Actor:
    """One round trip: the member, their branch, live roles, and whether the session still holds."""
    actor, _rows = await _load(reader, _ACTOR, claims)
    return actor


async def load_home(reader: Reader, claims: AccessClaims, *, year: int) -> tuple[Actor, Row]:
    """`load_actor` and what the home screen adds (see `_HOME`; study points of `year`), in the
    same round trip."""
    actor, rows = await _load(reader, _HOME, claims, now=utcnow(), year=year)
    return actor, rows[0]


async def _load(
    reader: Reader, query: FastQuery, claims: AccessClaims, **extra: object
) -> tuple[Actor, Sequence[Row]]:
    rows = await reader.fetch(query, {"sid": claims.session_id, "sub": claims.member_id, **extra})
    if not rows:
        raise Unauthorized("Phiên đăng nhập đã kết thúc.", code="auth.session_revoked")
    first = rows[0]
    if first["session_expires_at"] <= utcnow():
        raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.session_expired")
    if first["is_locked"]:
        raise Unauthorized(
            "Tài khoản đã bị khóa. Vui lòng liên hệ bí thư chi bộ hoặc Ban Tổ chức.",
            code="auth.account_locked",
        )
    # One holding per grant (an `extended` query repeats each grant's row).
    grants = {row["grant_id"]: row for row in rows if row["grant_id"] is not None}
    roles = tuple(
        RoleHolding(
            grant_id=row["grant_id"],
            role=Role(row["role"]),
            org_id=row["role_org_id"],
            org_name=row["role_org_name"],
            org_kind=row["role_org_kind"],
            org_path=row["role_org_path"],
        )
        for row in grants.values()
    )
    actor = Actor(
        member_id=first["member_id"],
        session_id=claims.session_id,
        full_name=first["full_name"],
        phone=first["phone"],
        status=first["status"],
        is_exempt=first["is_exempt"],
        branch_id=first["branch_id"],
        branch_name=first["branch_name"],
        branch_path=first["branch_path"],
        roles=roles,
        residence_path=first["residence_path"],
    )
    return actor, rows


async def member_actor(session: AsyncSession, member_id: int, *, session_id: str) -> Actor | None:
    """The member as an actor with the roles they hold now, read in `session` (a job acting for
    the officer who asked for it decides on today's rights, not on those of the request); None
    for a member who is gone, locked or archived (they act no more)."""
    member = await session.get(Member, member_id)
    if member is None or member.is_locked or member.archived_on is not None:
        return None
    branch = await session.get(Org, member.branch_id)
    if branch is None:
        return None
    grants = (
        await session.execute(
            select(RoleGrant.id, RoleGrant.role, Org.id, Org.name, Org.kind, Org.path)
            .join(Org, Org.id == RoleGrant.org_id)
            .where(RoleGrant.member_id == member.id, RoleGrant.revoked_at.is_(None))
            .order_by(RoleGrant.id)
        )
    ).all()
    return Actor(
        member_id=member.id,
        session_id=session_id,
        full_name=member.full_name,
        phone=member.phone,
        status=member.status,
        is_exempt=member.is_exempt,
        branch_id=branch.id,
        branch_name=branch.name,
        branch_path=branch.path,
        roles=tuple(
            RoleHolding(grant_id, Role(role), org_id, name, kind, path)
            for grant_id, role, org_id, name, kind, path in grants
        ),
    )
