"""Membership history: the periods a member spent in which branch, with what status and
exemption, and where each org sat in the tree; and the questions about the past that past-period
statistics rely on: `member_as_of`, `counts_as_of`, `members_on_query`, `list_members_as_of`.

Periods are half-open local-calendar date ranges (see `app.models.membership`). Writers close
the open period on the day a change takes effect and open the next one that day (`change`); a
change on the day the open period began replaces its values. Officer actions that write them are
in `services/membership.py`; member creation and edits call `first_period` and `record_edit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import (
    ArchiveReason,
    AttachmentKind,
    Member,
    MembershipPeriod,
    MemberStatus,
    Org,
    OrgKind,
    OrgPlacement,
    StatsRollupPeriod,
)
from app.models.base import utcnow
from app.schemas.membership import (
    MembershipAsOf,
    MembershipHistory,
    OrgMemberAsOf,
    PeriodRead,
)
from app.schemas.org import OrgRef
from app.services import access

_p = MembershipPeriod.__table__
_pl = OrgPlacement.__table__
_m = Member.__table__
_org = Org.__table__


def local_today(timezone: str, now: datetime | None = None) -> date:
    """Today in the deployment's calendar (`RULES__TIMEZONE`)."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


# --- writing history ------------------------------------------------------------------------------


def first_period(
    member: Member,
    *,
    since: date | None,
    status: str | None = None,
    is_exempt: bool | None = None,
) -> MembershipPeriod:
    """The open period of a member just added (`since` today; None for bulk loads of the past),
    in their branch with their status and exemption (or the `status`/`is_exempt` given)."""
    return MembershipPeriod(
        member_id=member.id,
        org_id=member.branch_id,
        kind=AttachmentKind.PRIMARY,
        status=status if status is not None else member.status,
        is_exempt=is_exempt if is_exempt is not None else member.is_exempt,
        valid_from=since,
    )


def archived_error() -> Conflict:
    return Conflict("Đảng viên đã được lưu trữ (không còn sinh hoạt).", code="member.archived")


def effective(on: date | None, today: date) -> date:
    day = on or today
    if day > today:
        raise Unprocessable(
            "Ngày có hiệu lực không được ở tương lai.", code="membership.date_in_future"
        )
    return day


async def open_period(
    session: AsyncSession,
    member: Member,
    kind: AttachmentKind,
    *,
    status: str | None = None,
    is_exempt: bool | None = None,
) -> MembershipPeriod | None:
    """The member's open period of `kind`. A member with no open primary period who is not
    archived (rows loaded in bulk without history) gets one, from the end of their last period
    or "since always", holding their current state: the change about to be made closes it."""
    period = await session.scalar(
        select(MembershipPeriod).where(
            MembershipPeriod.member_id == member.id,
            MembershipPeriod.kind == kind,
            MembershipPeriod.valid_to.is_(None),
        )
    )
    if period is not None or kind is AttachmentKind.RESIDENCE or member.archived_on is not None:
        return period
    last_end = await session.scalar(
        select(func.max(_p.c.valid_to)).where(
            _p.c.member_id == member.id, _p.c.kind == AttachmentKind.PRIMARY
        )
    )
    period = first_period(member, since=last_end, status=status, is_exempt=is_exempt)
    session.add(period)
    await session.flush()
    return period


async def primary_period(session: AsyncSession, member: Member) -> MembershipPeriod:
    """The open primary period of a member who is not archived."""
    period = await open_period(session, member, AttachmentKind.PRIMARY)
    if period is None:
        raise archived_error()
    return period


def check_not_before(period: MembershipPeriod, day: date) -> None:
    if period.valid_from is not None and day < period.valid_from:
        raise Conflict(
            f"Ngày có hiệu lực phải từ {period.valid_from.isoformat()} trở đi (ngày bắt đầu của "
            "giai đoạn hiện tại).",
            code="membership.date_before_current",
        )


async def rollup_stale(session: AsyncSession, day: date) -> None:
    """A membership or tree change takes effect on `day`: the statistics rollups of closed
    periods counted as of that day or later are recounted by the worker's next refresh
    (`services/stats_rollup.py`); running periods are recounted every few minutes anyway.
    Touches no row when they are already marked (no lock for the next change to wait on)."""
    await session.execute(
        update(StatsRollupPeriod)
        .where(
            StatsRollupPeriod.as_of >= day,
            StatsRollupPeriod.as_of == StatsRollupPeriod.period_end,
            StatsRollupPeriod.is_stale.is_(False),
        )
        .values(is_stale=True)
        .execution_options(synchronize_session=False)
    )


async def change(
    session: AsyncSession, period: MembershipPeriod, day: date, **values: Any
) -> MembershipPeriod:
    """Close `period` on `day` and open the next one with `values` changed (or, on the day the
    period began, change it in place)."""
    check_not_before(period, day)
    await rollup_stale(session, day)
    if period.valid_from == day:
        for name, value in values.items():
            setattr(period, name, value)
        await session.flush()
        return period
    period.valid_to = day
    fields = {
        "member_id": period.member_id,
        "org_id": period.org_id,
        "kind": period.kind,
        "status": period.status,
        "is_exempt": period.is_exempt,
        "exemption_ref": period.exemption_ref,
    }
    fields.update(values)
    following = MembershipPeriod(valid_from=day, **fields)
    session.add(following)
    await session.flush()
    return following


async def end(session: AsyncSession, period: MembershipPeriod, day: date) -> None:
    check_not_before(period, day)
    await rollup_stale(session, day)
    if period.valid_from == day:
        await session.delete(period)  # it never took effect
    else:
        period.valid_to = day
    await session.flush()


async def record_edit(
    session: AsyncSession, member: Member, before: dict[str, Any], *, today: date
) -> None:
    """A member edit (`PATCH /members/{id}`) that changed status or exemption: the history
    follows from today. `before` holds the member's `status` and `is_exempt` before the edit."""
    values: dict[str, Any] = {}
    if member.status != before["status"]:
        values["status"] = member.status
    if member.is_exempt != before["is_exempt"]:
        values["is_exempt"] = member.is_exempt
        values["exemption_ref"] = None
    if not values or member.archived_on is not None:
        return
    period = await open_period(
        session,
        member,
        AttachmentKind.PRIMARY,
        status=before["status"],
        is_exempt=before["is_exempt"],
    )
    if period is not None:
        await change(session, period, max(today, period.valid_from or today), **values)


# --- reading history ------------------------------------------------------------------------------


def _valid_on(table: Any, day: date) -> Any:
    return and_(
        or_(table.c.valid_from.is_(None), table.c.valid_from <= day),
        or_(table.c.valid_to.is_(None), table.c.valid_to > day),
    )


async def read_history(session: AsyncSession, member_id: int) -> MembershipHistory:
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound(code="member.not_found")
    rows = (
        await session.execute(
            select(_p, _org.c.name.label("org_name"), _org.c.kind.label("org_kind"))
            .join(_org, _org.c.id == _p.c.org_id)
            .where(_p.c.member_id == member_id)
            .order_by(
                _p.c.kind,
                case((_p.c.valid_from.is_(None), 0), else_=1),
                _p.c.valid_from,
                _p.c.id,
            )
        )
    ).mappings()
    periods = [_period(row) for row in rows]
    if not any(p.kind is AttachmentKind.PRIMARY for p in periods) and member.archived_on is None:
        # Loaded in bulk without history: their current state, since before history was kept.
        branch = (
            await session.execute(
                select(_org.c.name, _org.c.kind).where(_org.c.id == member.branch_id)
            )
        ).one()
        periods.insert(
            0,
            PeriodRead(
                kind=AttachmentKind.PRIMARY,
                org=OrgRef(id=member.branch_id, name=branch.name, kind=OrgKind(branch.kind)),
                status=MemberStatus(member.status),
                is_exempt=member.is_exempt,
                exemption_ref=None,
                valid_from=None,
                valid_to=None,
            ),
        )
    return MembershipHistory(
        member_id=member.id,
        archived_on=member.archived_on,
        archive_reason=ArchiveReason(member.archive_reason) if member.archive_reason else None,
        periods=periods,
    )


def _period(row: Any) -> PeriodRead:
    return PeriodRead(
        kind=AttachmentKind(row["kind"]),
        org=OrgRef(id=row["org_id"], name=row["org_name"], kind=OrgKind(row["org_kind"])),
        status=MemberStatus(row["status"]),
        is_exempt=row["is_exempt"],
        exemption_ref=row["exemption_ref"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
    )


async def member_as_of(session: AsyncSession, member_id: int, day: date) -> MembershipAsOf:
    """Where the member stood on `day`: branch, status, exemption, residence branch."""
    history = await read_history(session, member_id)
    found: dict[AttachmentKind, PeriodRead] = {}
    for period in history.periods:
        starts = period.valid_from is None or period.valid_from <= day
        lasts = period.valid_to is None or period.valid_to > day
        if starts and lasts:
            found[period.kind] = period
    primary = found.get(AttachmentKind.PRIMARY)
    residence = found.get(AttachmentKind.RESIDENCE)
    return MembershipAsOf(
        member_id=member_id,
        on=day,
        is_member=primary is not None,
        branch=primary.org if primary else None,
        status=primary.status if primary else None,
        is_exempt=primary.is_exempt if primary else None,
        exemption_ref=primary.exemption_ref if primary else None,
        residence=residence.org if residence else None,
    )


def lineages_on(day: date) -> Any:
    """(org_id, lineage): every org's path as it was on `day` (orgs without placements, e.g.
    bulk-loaded ones, at their current path)."""
    placed = select(_pl.c.org_id.label("org_id"), _pl.c.lineage.label("lineage")).where(
        _valid_on(_pl, day)
    )
    unplaced = select(_org.c.id, _org.c.path).where(~exists().where(_pl.c.org_id == _org.c.id))
    return union_all(placed, unplaced).subquery("lineage_on")


def attachments_on(day: date) -> Any:
    """(member_id, org_id, status, is_exempt): every member's branch and standing on `day`
    (members loaded without history count at their current branch, unless archived)."""
    recorded = select(
        _p.c.member_id.label("member_id"),
        _p.c.org_id.label("org_id"),
        _p.c.status.label("status"),
        _p.c.is_exempt.label("is_exempt"),
    ).where(_p.c.kind == AttachmentKind.PRIMARY, _valid_on(_p, day))
    unrecorded = select(_m.c.id, _m.c.branch_id, _m.c.status, _m.c.is_exempt).where(
        _m.c.archived_on.is_(None), ~exists().where(_p.c.member_id == _m.c.id)
    )
    return union_all(recorded, unrecorded).subquery("attached_on")


async def org_lineage_on(session: AsyncSession, org_id: int, day: date) -> str | None:
    """The org's path on `day`, or None when it did not exist then."""
    lineage = lineages_on(day)
    value: str | None = await session.scalar(
        select(lineage.c.lineage).where(lineage.c.org_id == org_id)
    )
    return value


def members_on_query(lineage: str, day: date) -> Select[Any]:
    """(member_id, org_id, status, is_exempt) of the members of the subtree whose path was
    `lineage` on `day`: the building block of past-period statistics."""
    attached = attachments_on(day)
    lineage_sq = lineages_on(day)
    lo, hi = access.subtree_range(lineage)
    return (
        select(attached.c.member_id, attached.c.org_id, attached.c.status, attached.c.is_exempt)
        .join(lineage_sq, lineage_sq.c.org_id == attached.c.org_id)
        .where(lineage_sq.c.lineage >= lo, lineage_sq.c.lineage < hi)
    )


@dataclass(frozen=True, slots=True)
class MemberCounts:
    """An org subtree's members on a day, as denominators count them."""

    total: int
    full: int
    probationary: int
    exempt: int
    # Full and not exempt: the members who vote (and count in a quorum).
    voting: int
    # Not exempt: summoned to meetings and counted absent when they do not come.
    active: int


async def counts_as_of(session: AsyncSession, org_id: int, day: date) -> MemberCounts:
    """The denominators of an org's subtree on `day`, as they were then: transfers, exemptions,
    archives and tree moves made later do not change them."""
    lineage = await org_lineage_on(session, org_id, day)
    if lineage is None:
        return MemberCounts(0, 0, 0, 0, 0, 0)
    rows = members_on_query(lineage, day).subquery()
    full = rows.c.status == MemberStatus.FULL
    exempt = rows.c.is_exempt.is_(True)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    total, n_full, n_exempt, voting, active = (
        await session.execute(
            select(
                func.count(),
                count(full),
                count(exempt),
                count(and_(full, ~exempt)),
                count(~exempt),
            ).select_from(rows)
        )
    ).one()
    return MemberCounts(
        total=total,
        full=n_full,
        probationary=total - n_full,
        exempt=n_exempt,
        voting=voting,
        active=active,
    )


async def list_members_as_of(
    session: AsyncSession, org_id: int, day: date, *, limit: int, cursor: str | None
) -> tuple[list[OrgMemberAsOf], str | None]:
    """The members an org (and its subtree) had on `day`, by member id."""
    lineage = await org_lineage_on(session, org_id, day)
    if lineage is None:
        return [], None
    rows_sq = members_on_query(lineage, day).subquery()
    query = select(
        rows_sq.c.member_id,
        _m.c.full_name,
        rows_sq.c.org_id,
        rows_sq.c.status,
        rows_sq.c.is_exempt,
    ).join(_m, _m.c.id == rows_sq.c.member_id)
    if cursor:
        (last_id,) = decode_cursor(cursor, "members_as_of", (int,))
        query = query.where(rows_sq.c.member_id > literal(last_id, BigInteger))
    rows = (await session.execute(query.order_by(rows_sq.c.member_id).limit(limit + 1))).all()
    page, next_cursor = page_of(rows, limit, "members_as_of", lambda r: (r[0],))
    return [
        OrgMemberAsOf(
            member_id=r[0],
            full_name=r[1],
            branch_id=r[2],
            status=MemberStatus(r[3]),
            is_exempt=r[4],
        )
        for r in page
    ], next_cursor
