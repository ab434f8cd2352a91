"""Statistics of an org's subtree for a period: the one computation behind `GET /orgs/{id}/stats`,
the per-child breakdown and the .xlsx progress report (docs/statistics.md has the definitions,
the same text as the response fields' descriptions).

Every figure is counted over the tree and the memberships *as they stood on `as_of`* (the
period's last day, or today while it runs), read from history (`services/history.py`): a member
transferred, a branch moved or two units merged after a period do not change its figures.

Figures are computed for a list of *groups* (a key and a lineage each): one group for an org's
own statistics, one per child for the breakdown; every query aggregates by group with a range
join on the lineage (`lo <= lineage < hi`), so a breakdown costs the same queries as one org.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.core.db import FastQuery, Reader
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.models import (
    Article,
    ArticleStatus,
    Document,
    DocumentReceipt,
    DocumentStatus,
    Meeting,
    MeetingAttachment,
    MeetingAttendee,
    MeetingComment,
    Member,
    MemberActivity,
    Motion,
    Org,
    OrgKind,
    PointEntry,
    StatsBranchRollup,
    StatsRollup,
    StatsRollupPeriod,
    Survey,
    SurveyParticipation,
    Task,
    TaskStatus,
)
from app.models.base import utcnow
from app.models.meeting import Attendance, AttendeeKind, MeetingRating, MeetingStatus
from app.models.stats_rollup import COUNTS, SIGNAL_COUNTS
from app.schemas.stats import AttentionReason, PeriodKind, StatsSort
from app.services import access, history
from app.services.rules import StatsTargets

_org = Org.__table__
_m = Member.__table__
_act = MemberActivity.__table__
_mt = Meeting.__table__
_att = MeetingAttendee.__table__
_att_member = _att.c.kind == AttendeeKind.MEMBER
_doc = Document.__table__
_art = Article.__table__
_rcpt = DocumentReceipt.__table__
_pe = PointEntry.__table__
_sv = Survey.__table__
_sp = SurveyParticipation.__table__
_ru = StatsRollup.__table__
_rp = StatsRollupPeriod.__table__

# The longest custom period: a little over a year.
MAX_CUSTOM_DAYS = 400
# Groups per round of queries (a UNION of this many ranges; SQLite allows 500 terms).
_BATCH = 200


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    start: date
    end: date  # inclusive
    as_of: date
    # The period runs today: `as_of` is today, and the tree and memberships as of today are
    # the current ones (changes never take effect in the future), read from `org.path` and
    # `member.org_path` on their indexes instead of the history tables.
    is_current: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def read(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "as_of": self.as_of}


def _bad_period(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="stats.bad_period")


def resolve_period(
    kind: PeriodKind, start: date | None, end: date | None, *, today: date
) -> Period:
    """month / quarter / year: the one containing `start` (today by default); custom: `start` to
    `end` inclusive, at most `MAX_CUSTOM_DAYS`. A period starting after today is refused."""
    day = start or today
    if kind is PeriodKind.CUSTOM:
        if start is None or end is None:
            raise _bad_period("Kỳ tùy chọn cần cả ngày bắt đầu (from) và ngày kết thúc (to).")
        if end < start:
            raise _bad_period("Ngày kết thúc phải từ ngày bắt đầu trở đi.")
        if (end - start).days + 1 > MAX_CUSTOM_DAYS:
            raise _bad_period(f"Kỳ tùy chọn dài tối đa {MAX_CUSTOM_DAYS} ngày.")
        first, last = start, end
    else:
        if end is not None:
            raise _bad_period("Chỉ kỳ tùy chọn (custom) nhận ngày kết thúc (to).")
        if kind is PeriodKind.MONTH:
            first = day.replace(day=1)
            last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        elif kind is PeriodKind.QUARTER:
            month = 3 * ((day.month - 1) // 3) + 1
            first = date(day.year, month, 1)
            last = date(day.year, month + 2, calendar.monthrange(day.year, month + 2)[1])
        else:
            first, last = date(day.year, 1, 1), date(day.year, 12, 31)
    if first > today:
        raise _bad_period("Kỳ thống kê chưa bắt đầu.")
    return Period(kind, first, last, min(last, today), is_current=last >= today)


def target_points(period: Period, yearly: int) -> int:
    """The yearly study target prorated to the period (the whole target for a calendar year)."""
    if period.kind is PeriodKind.YEAR:
        return yearly
    year_days = 366 if calendar.isleap(period.start.year) else 365
    return math.ceil(yearly * min(period.days, year_days) / year_days)


def _utc(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the grouped queries ----------------------------------------------------------------------


def _ranges(groups: Sequence[tuple[int, str]]) -> Any:
    parts = []
    for key, lineage in groups:
        lo, hi = access.subtree_range(lineage)
        parts.append(
            select(
                literal(key, BigInteger).label("key"),
                literal(lo, String).label("lo"),
                literal(hi, String).label("hi"),
            )
        )
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    return statement.subquery("ranges")


@dataclass(frozen=True, slots=True)
class _Basis:
    """Per group: the orgs (as of the day) and the eligible members (as of the day)."""

    orgs: Any  # (org_id, key)
    members: Any  # (member_id, key)


def _basis(groups: Sequence[tuple[int, str]], day: date, *, current: bool = False) -> _Basis:
    ranges = _ranges(groups)
    if current:
        orgs = (
            select(_org.c.id.label("org_id"), ranges.c.key.label("key"))
            .join(ranges, and_(_org.c.path >= ranges.c.lo, _org.c.path < ranges.c.hi))
            .where(_org.c.is_active.is_(True))
            .subquery("orgs_in")
        )
        members = (
            select(_m.c.id.label("member_id"), ranges.c.key.label("key"))
            .join(ranges, and_(_m.c.org_path >= ranges.c.lo, _m.c.org_path < ranges.c.hi))
            .where(_m.c.is_exempt.is_(False), _m.c.archived_on.is_(None))
            .subquery("eligible")
        )
        return _Basis(orgs, members)
    lineage = history.lineages_on(day)
    orgs = (
        select(lineage.c.org_id.label("org_id"), ranges.c.key.label("key"))
        .join(ranges, and_(lineage.c.lineage >= ranges.c.lo, lineage.c.lineage < ranges.c.hi))
        .subquery("orgs_in")
    )
    attached = history.attachments_on(day)
    members = (
        select(attached.c.member_id.label("member_id"), orgs.c.key.label("key"))
        .join(orgs, orgs.c.org_id == attached.c.org_id)
        .where(attached.c.is_exempt.is_(False))
        .subquery("eligible")
    )
    return _Basis(orgs, members)


def basis_by_org(day: date, *, current: bool = False) -> tuple[_Basis, Any]:
    """Each org as its own group (key = org id: its own members, meetings and content, not its
    subtree's), as of `day`; and (org_id, lineage) of every org on that day. What the rollup
    stores: summed over a subtree's orgs these counts equal the subtree's live counts."""
    if current:
        lineages = select(_org.c.id.label("org_id"), _org.c.path.label("lineage"))
        orgs = (
            select(_org.c.id.label("org_id"), _org.c.id.label("key"))
            .where(_org.c.is_active.is_(True))
            .subquery("orgs_in")
        )
        members = (
            select(_m.c.id.label("member_id"), _m.c.branch_id.label("key"))
            .where(_m.c.is_exempt.is_(False), _m.c.archived_on.is_(None))
            .subquery("eligible")
        )
        return _Basis(orgs, members), lineages
    lineage = history.lineages_on(day)
    orgs = select(lineage.c.org_id.label("org_id"), lineage.c.org_id.label("key")).subquery(
        "orgs_in"
    )
    attached = history.attachments_on(day)
    members = (
        select(attached.c.member_id.label("member_id"), orgs.c.key.label("key"))
        .join(orgs, orgs.c.org_id == attached.c.org_id)
        .where(attached.c.is_exempt.is_(False))
        .subquery("eligible")
    )
    return _Basis(orgs, members), select(lineage.c.org_id, lineage.c.lineage)


def _sum(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _member_figures(
    session: AsyncSession, basis: _Basis, period: Period, t0: datetime, t1: datetime
) -> dict[int, dict[str, int]]:
    """Per group: eligible, activated, monthly active, active in the period, readers, studiers.
    Activity and receipts are first reduced to one row per member (flags), then joined: one
    hash join each instead of a probe per member and figure."""
    m = basis.members
    month_end = period.as_of.replace(day=1)
    month_start = period.start.replace(day=1)

    def flag(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    activity = (
        select(
            _act.c.member_id,
            flag(_act.c.month == month_end).label("monthly"),
            flag(_act.c.month >= month_start).label("in_period"),
        )
        .where(_act.c.month <= month_end)
        .group_by(_act.c.member_id)
        .subquery("act")
    )
    opened = and_(_rcpt.c.opened_at >= t0, _rcpt.c.opened_at < t1)
    studied = and_(_rcpt.c.studied_at >= t0, _rcpt.c.studied_at < t1)
    reading = (
        select(
            _rcpt.c.member_id,
            flag(opened).label("read"),
            flag(studied).label("studied"),
        )
        .where(opened | studied)
        .group_by(_rcpt.c.member_id)
        .subquery("reading")
    )
    rows = await session.execute(
        select(
            m.c.key,
            func.count().label("eligible"),
            func.count(activity.c.member_id).label("activated"),
            func.coalesce(func.sum(activity.c.monthly), 0).label("monthly_active"),
            func.coalesce(func.sum(activity.c.in_period), 0).label("active_in_period"),
            func.coalesce(func.sum(reading.c.read), 0).label("readers"),
            func.coalesce(func.sum(reading.c.studied), 0).label("studiers"),
        )
        .select_from(
            m.outerjoin(activity, activity.c.member_id == m.c.member_id).outerjoin(
                reading, reading.c.member_id == m.c.member_id
            )
        )
        .group_by(m.c.key)
    )
    return {r.key: dict(r._mapping) for r in rows}


async def _point_figures(
    session: AsyncSession, basis: _Basis, t0: datetime, t1: datetime, target: int
) -> dict[int, dict[str, int]]:
    m = basis.members
    earned = (
        select(_pe.c.member_id, func.sum(_pe.c.points).label("points"))
        .where(_pe.c.created_at >= t0, _pe.c.created_at < t1)
        .group_by(_pe.c.member_id)
        .subquery("earned")
    )
    points = func.coalesce(earned.c.points, 0)
    rows = await session.execute(
        select(
            m.c.key,
            func.coalesce(func.sum(points), 0).label("points_total"),
            _sum(points >= target).label("reaching_target"),
        )
        .select_from(m.outerjoin(earned, earned.c.member_id == m.c.member_id))
        .group_by(m.c.key)
    )
    return {r.key: dict(r._mapping) for r in rows}


async def _survey_figures(
    session: AsyncSession, basis: _Basis, t0: datetime, t1: datetime
) -> dict[int, int]:
    m = basis.members
    rows = await session.execute(
        select(m.c.key, func.count().label("answered"))
        .select_from(
            m.join(_sp, _sp.c.member_id == m.c.member_id).join(
                _sv, and_(_sv.c.id == _sp.c.survey_id, _sv.c.opens_at >= t0, _sv.c.opens_at < t1)
            )
        )
        .group_by(m.c.key)
    )
    return {r.key: r.answered for r in rows}


async def _meeting_figures(
    session: AsyncSession, basis: _Basis, t0: datetime, t1: datetime
) -> dict[int, dict[str, Any]]:
    o = basis.orgs
    closed = _mt.c.status == MeetingStatus.CLOSED
    in_period = and_(
        _mt.c.starts_at >= t0,
        _mt.c.starts_at < t1,
        _mt.c.status.notin_([MeetingStatus.DRAFT, MeetingStatus.CANCELLED]),
    )
    figures: dict[int, dict[str, Any]] = {}

    def of(key: int) -> dict[str, Any]:
        return figures.setdefault(key, {"ratings": {}})

    rows = await session.execute(
        select(
            o.c.key,
            func.count(_mt.c.id).label("planned"),
            _sum(closed).label("held"),
            _sum(
                and_(
                    closed,
                    (_mt.c.minutes_upload_id.is_not(None)) | (_mt.c.minutes_text.is_not(None)),
                )
            ).label("with_minutes"),
            func.count(func.distinct(case((closed, _mt.c.org_id)))).label("branches_meeting"),
        )
        .select_from(o.join(_mt, _mt.c.org_id == o.c.org_id))
        .where(in_period)
        .group_by(o.c.key)
    )
    for r in rows:
        of(r.key).update(
            planned=r.planned,
            held=r.held,
            with_minutes=r.with_minutes,
            branches_meeting=r.branches_meeting,
        )
    rows = await session.execute(
        select(o.c.key, _mt.c.rating, func.count().label("n"))
        .select_from(o.join(_mt, _mt.c.org_id == o.c.org_id))
        .where(in_period, closed)
        .group_by(o.c.key, _mt.c.rating)
    )
    for r in rows:
        of(r.key)["ratings"][r.rating or "unrated"] = r.n
    rows = await session.execute(
        select(
            o.c.key,
            func.count().label("summoned"),
            _sum(_att.c.attendance == Attendance.PRESENT).label("present"),
        )
        .select_from(
            o.join(_mt, _mt.c.org_id == o.c.org_id).join(_att, _att.c.meeting_id == _mt.c.id)
        )
        # The branch's own members only: guests and residence attendees are not its turnout.
        .where(in_period, closed, _att.c.kind == AttendeeKind.MEMBER, _att.c.is_exempt.is_(False))
        .group_by(o.c.key)
    )
    for r in rows:
        of(r.key).update(summoned=r.summoned, present=r.present)
    rows = await session.execute(
        select(o.c.key, func.count().label("branches"))
        .select_from(o.join(_org, _org.c.id == o.c.org_id))
        .where(_org.c.kind == OrgKind.BRANCH)
        .group_by(o.c.key)
    )
    for r in rows:
        of(r.key)["branches"] = r.branches
    return figures


async def _content_figures(
    session: AsyncSession, basis: _Basis, t0: datetime, t1: datetime
) -> dict[int, dict[str, int]]:
    """Documents and articles published in the period, counted at the org that published
    them: `origin_org_id` when a merge has since moved them (each side of that on its own
    index), else `org_id`."""
    o = basis.orgs
    figures: dict[int, dict[str, int]] = {}
    for name, table, published in (
        ("documents_published", _doc, DocumentStatus.PUBLISHED),
        ("articles_published", _art, ArticleStatus.PUBLISHED),
    ):
        for owner, moved in (
            (table.c.org_id, table.c.origin_org_id.is_(None)),
            (table.c.origin_org_id, table.c.origin_org_id.is_not(None)),
        ):
            rows = await session.execute(
                select(o.c.key, func.count().label("n"))
                .select_from(o.join(table, owner == o.c.org_id))
                .where(
                    moved,
                    table.c.status == published,
                    table.c.published_at >= t0,
                    table.c.published_at < t1,
                )
                .group_by(o.c.key)
            )
            for r in rows:
                counts = figures.setdefault(r.key, {})
                counts[name] = counts.get(name, 0) + r.n
    return figures


async def counts(
    session: AsyncSession, basis: _Basis, period: Period, timezone: str, target: int
) -> dict[int, dict[str, int]]:
    """The additive counts (`COUNTS`) of each group of `basis` for the period: the figures
    before rates, summable over disjoint groups (the rollup stores them per org)."""
    t0 = _utc(period.start, timezone)
    t1 = _utc(period.end + timedelta(days=1), timezone)
    members = await _member_figures(session, basis, period, t0, t1)
    points = await _point_figures(session, basis, t0, t1, target)
    surveys = await _survey_figures(session, basis, t0, t1)
    meetings = await _meeting_figures(session, basis, t0, t1)
    content = await _content_figures(session, basis, t0, t1)
    result: dict[int, dict[str, int]] = {}
    for key in {*members, *points, *surveys, *meetings, *content}:
        row = dict.fromkeys(COUNTS, 0)
        for part in (members.get(key, {}), points.get(key, {}), content.get(key, {})):
            row.update({k: int(v) for k, v in part.items() if k in row})
        mt = meetings.get(key, {"ratings": {}})
        row.update({k: int(v) for k, v in mt.items() if k in row})
        for name, n in mt["ratings"].items():
            if f"rated_{name}" in row:
                row[f"rated_{name}"] = int(n)
        row["answered"] = int(surveys.get(key, 0))
        result[key] = row
    return result


def shown(c: dict[str, int], target: int, targets: StatsTargets) -> dict[str, Any]:
    """The `StatsFigures` shape of a group's counts (rates from the summed counts, never summed
    rates), with the deployment's targets marked."""
    eligible = c["eligible"]
    result: dict[str, Any] = {
        "members": {
            "eligible": eligible,
            "activated": c["activated"],
            "activation_rate": _rate(c["activated"], eligible),
            "monthly_active": c["monthly_active"],
            "monthly_active_rate": _rate(c["monthly_active"], eligible),
            "active_in_period": c["active_in_period"],
        },
        "meetings": {
            "branches": c["branches"],
            "branches_meeting": c["branches_meeting"],
            "branches_meeting_rate": _rate(c["branches_meeting"], c["branches"]),
            "planned": c["planned"],
            "held": c["held"],
            "with_minutes": c["with_minutes"],
            "attendance_rate": _rate(c["present"], c["summoned"]),
            "ratings": {
                name: c[f"rated_{name}"] for name in [*(r.value for r in MeetingRating), "unrated"]
            },
        },
        "content": {
            "documents_published": c["documents_published"],
            "articles_published": c["articles_published"],
            "readers": c["readers"],
            "read_rate": _rate(c["readers"], eligible),
            "studiers": c["studiers"],
            "studied_rate": _rate(c["studiers"], eligible),
        },
        "study": {
            "points_total": c["points_total"],
            "points_average": round(c["points_total"] / eligible, 2) if eligible else None,
            "target_points": target,
            "reaching_target": c["reaching_target"],
            "target_share": _rate(c["reaching_target"], eligible),
        },
        "surveys": {"answered": c["answered"]},
    }
    values = {
        "activation_rate": result["members"]["activation_rate"],
        "monthly_active_rate": result["members"]["monthly_active_rate"],
        "branches_meeting_rate": result["meetings"]["branches_meeting_rate"],
        "target_share": result["study"]["target_share"],
    }
    result["targets"] = [
        {
            "metric": metric,
            "target": goal,
            "value": values[metric],
            "met": None if values[metric] is None else values[metric] >= goal,
        }
        for metric, goal in targets.items()
    ]
    return result


async def figures(
    session: AsyncSession,
    groups: Sequence[tuple[int, str]],
    period: Period,
    rules: RulesSettings,
    *,
    yearly_target: int,
    targets: StatsTargets,
) -> dict[int, dict[str, Any]]:
    """The figures of each group (key → the `StatsFigures` shape), counted live from committed
    data, `_BATCH` groups a round: the definition every rollup must equal."""
    target = target_points(period, yearly_target)
    found: dict[int, dict[str, int]] = {}
    for i in range(0, len(groups), _BATCH):
        batch = groups[i : i + _BATCH]
        basis = _basis(batch, period.as_of, current=period.is_current)
        found.update(await counts(session, basis, period, rules.timezone, target))
    empty = dict.fromkeys(COUNTS, 0)
    return {key: shown(found.get(key, empty), target, targets) for key, _lineage in groups}


# --- rollups ----------------------------------------------------------------------------------

# Periods the worker rolls up (`services/stats_rollup.py`); custom periods are always live.
ROLLUP_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)


@dataclass(frozen=True, slots=True)
class Freshness:
    """Where a response's figures come from: the rollup (counted by the worker at `as_of`) or
    the live path (counted for this request)."""

    as_of: datetime
    source: str  # "rollup" | "live"

    def read(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "source": self.source}


async def _rolled_up(
    session: AsyncSession, groups: Sequence[tuple[int, str]], period: Period, target: int
) -> tuple[dict[int, dict[str, int]], datetime] | None:
    """The groups' counts from the period's rollup (each row holds its org's subtree totals, as
    the tree stood when it was counted), or None when it cannot answer: not rolled up yet,
    counted against another study target, or a group's org not in it (created since)."""
    if period.kind not in ROLLUP_KINDS or not groups:
        return None
    where = (_rp.c.period_kind == period.kind, _rp.c.period_start == period.start)
    state = (
        await session.execute(select(_rp.c.target_points, _rp.c.refreshed_at).where(*where))
    ).first()
    if state is None or state.target_points != target:
        return None
    keys = [key for key, _ in groups]
    found: dict[int, dict[str, int]] = {}
    for i in range(0, len(keys), _BATCH):
        rows = await session.execute(
            select(_ru.c.org_id, *(_ru.c[n] for n in COUNTS)).where(
                _ru.c.period_kind == period.kind,
                _ru.c.period_start == period.start,
                _ru.c.org_id.in_(keys[i : i + _BATCH]),
            )
        )
        found.update({int(r.org_id): {n: int(r._mapping[n]) for n in COUNTS} for r in rows})
    if len(found) < len(keys):
        return None
    refreshed: datetime = state.refreshed_at
    return found, refreshed


async def figures_served(
    session: AsyncSession,
    groups: Sequence[tuple[int, str]],
    period: Period,
    rules: RulesSettings,
    *,
    yearly_target: int,
    targets: StatsTargets,
) -> tuple[dict[int, dict[str, Any]], Freshness]:
    """What the API answers: the rollup's sums where it can answer (month, quarter, year),
    otherwise `figures` (live). Both give the same figures for the same data."""
    target = target_points(period, yearly_target)
    rolled = await _rolled_up(session, groups, period, target)
    if rolled is None:
        live = await figures(
            session, groups, period, rules, yearly_target=yearly_target, targets=targets
        )
        return live, Freshness(utcnow(), "live")
    found, refreshed = rolled
    empty = dict.fromkeys(COUNTS, 0)
    return (
        {key: shown(found.get(key, empty), target, targets) for key, _ in groups},
        Freshness(refreshed, "rollup"),
    )


# --- the operations ---------------------------------------------------------------------------


async def _lineage(session: AsyncSession, org_id: int, day: date) -> str:
    lineage = await history.org_lineage_on(session, org_id, day)
    if lineage is None:
        raise NotFound(
            "Tổ chức chưa tồn tại (hoặc đã sáp nhập) vào cuối kỳ thống kê.",
            code="stats.org_not_in_period",
        )
    return lineage


async def _org_name(session: AsyncSession, org_id: int) -> str:
    name: str | None = await session.scalar(select(_org.c.name).where(_org.c.id == org_id))
    if name is None:
        raise NotFound(code="org.not_found")
    return name


async def org_stats(
    session: AsyncSession,
    org_id: int,
    period: Period,
    rules: RulesSettings,
    *,
    yearly_target: int,
    targets: StatsTargets,
) -> dict[str, Any]:
    lineage = await _lineage(session, org_id, period.as_of)
    result, freshness = await figures_served(
        session, [(org_id, lineage)], period, rules, yearly_target=yearly_target, targets=targets
    )
    return {
        "org_id": org_id,
        "org_name": await _org_name(session, org_id),
        "period": period.read(),
        "computed_at": utcnow(),
        **freshness.read(),
        **result[org_id],
    }


async def subtree_on(session: AsyncSession, lineage: str, day: date) -> list[tuple[int, str]]:
    """(org_id, lineage) of every org below the one whose lineage on `day` is given."""
    lineages = history.lineages_on(day)
    lo, hi = access.subtree_range(lineage)
    rows = await session.execute(
        select(lineages.c.org_id, lineages.c.lineage).where(
            lineages.c.lineage > lo, lineages.c.lineage < hi
        )
    )
    return sorted((int(r.org_id), str(r.lineage)) for r in rows)


async def children_on(session: AsyncSession, lineage: str, day: date) -> list[tuple[int, str]]:
    """(org_id, lineage) of the direct children of the org whose lineage on `day` is given
    (their lineage has one more "/": filtered in SQL, so a province root gets its few hundred
    children, not every org below it)."""
    lineages = history.lineages_on(day)
    lo, hi = access.subtree_range(lineage)
    column = lineages.c.lineage
    slashes = func.length(column) - func.length(func.replace(column, "/", ""))
    rows = await session.execute(
        select(lineages.c.org_id, column).where(
            column > lo, column < hi, slashes == lineage.count("/") + 1
        )
    )
    return sorted((int(r.org_id), str(r.lineage)) for r in rows)


async def org_info(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """id → (name, kind)."""
    info: dict[int, tuple[str, str]] = {}
    for i in range(0, len(ids), _BATCH):
        rows = await session.execute(
            select(_org.c.id, _org.c.name, _org.c.kind).where(_org.c.id.in_(ids[i : i + _BATCH]))
        )
        info.update({r.id: (r.name, r.kind) for r in rows})
    return info


def _sort_value(row: dict[str, Any], sort: StatsSort) -> Any:
    if sort is StatsSort.NAME:
        return row["org_name"]
    for section in ("members", "meetings", "content", "study"):
        if sort.value in row[section]:
            return row[section][sort.value]
    raise KeyError(sort)  # pragma: no cover - every sort names a figure


async def child_stats(
    session: AsyncSession,
    org_id: int,
    period: Period,
    rules: RulesSettings,
    *,
    yearly_target: int,
    targets: StatsTargets,
    sort: StatsSort = StatsSort.NAME,
    descending: bool = False,
) -> dict[str, Any]:
    lineage = await _lineage(session, org_id, period.as_of)
    children = await children_on(session, lineage, period.as_of)
    result, freshness = await figures_served(
        session, children, period, rules, yearly_target=yearly_target, targets=targets
    )
    info = await org_info(session, [key for key, _ in children])
    items = [
        {"org_id": key, "org_name": info[key][0], "org_kind": info[key][1], **result[key]}
        for key, _ in children
    ]
    # Rows without a value (no eligible members) go last in either order.
    present = [i for i in items if _sort_value(i, sort) is not None]
    missing = [i for i in items if _sort_value(i, sort) is None]
    present.sort(key=lambda i: (_sort_value(i, sort), i["org_id"]), reverse=descending)
    return {
        "org_id": org_id,
        "period": period.read(),
        "computed_at": utcnow(),
        **freshness.read(),
        "items": present + missing,
    }


# --- branch meeting-quality signals -----------------------------------------------------------

_RATING_RANK = {"good": 4, "fair": 3, "average": 2, "poor": 1}
_mat = MeetingAttachment.__table__
_mc = MeetingComment.__table__
_mo = Motion.__table__
_task = Task.__table__
_br = StatsBranchRollup.__table__


@dataclass(frozen=True, slots=True)
class SignalRules:
    """The deployment rules the branch signals are counted with (`RULES__*`)."""

    agenda_days_ahead: int
    minutes_due_h: int
    attention_attendance: float
    timezone: str

    @classmethod
    def of(cls, rules: RulesSettings) -> SignalRules:
        return cls(
            rules.stats_agenda_days_ahead,
            rules.minutes_due_h,
            rules.stats_attention_attendance,
            rules.timezone,
        )

    @property
    def key(self) -> str:
        """What the rollup records (`stats_rollup_period.signal_rules`): signals counted with
        other rules are not served, and the next refresh counts them again."""
        return (
            f"agenda={self.agenda_days_ahead}d;minutes={self.minutes_due_h}h;"
            f"attendance={self.attention_attendance!r};tz={self.timezone}"
        )


def _count_of(table: Any, *conditions: Any) -> Any:
    return (
        select(func.count())
        .select_from(table)
        .where(table.c.meeting_id == _mt.c.id, *conditions)
        .scalar_subquery()
    )


def _empty_signals() -> dict[str, int]:
    return dict.fromkeys(SIGNAL_COUNTS, 0)


async def signal_counts(
    session: AsyncSession, orgs: Any, period: Period, rules: SignalRules, *, after: int = 0
) -> dict[int, dict[str, int]]:
    """Each branch's meeting-quality counts (`SIGNAL_COUNTS`) for the period, for the orgs of
    `orgs` (a subquery with `org_id`) above the id `after`: the one definition of the signals,
    served live or from the rollup. A branch without meeting or task in the period is absent
    (every count 0)."""
    t0 = _utc(period.start, rules.timezone)
    t1 = _utc(period.end + timedelta(days=1), rules.timezone)
    ahead = timedelta(days=rules.agenda_days_ahead)
    due = timedelta(hours=rules.minutes_due_h)
    zone = ZoneInfo(rules.timezone)
    found: dict[int, dict[str, int]] = {}
    rows = await session.execute(
        select(
            _mt.c.org_id,
            _mt.c.status,
            _mt.c.starts_at,
            _mt.c.announced_at,
            _mt.c.closed_at,
            _mt.c.minutes_at,
            _mt.c.rating,
            _mt.c.upper_rating,
            _count_of(_mat).label("attachments"),
            _count_of(_mc).label("comments"),
            _count_of(_mo).label("motions"),
            _count_of(_att, _att_member, _att.c.is_exempt.is_(False)).label("summoned"),
            _count_of(
                _att,
                _att_member,
                _att.c.is_exempt.is_(False),
                _att.c.attendance == Attendance.PRESENT,
            ).label("present"),
        )
        .join(orgs, orgs.c.org_id == _mt.c.org_id)
        .where(
            _mt.c.starts_at >= t0,
            _mt.c.starts_at < t1,
            _mt.c.status.notin_([MeetingStatus.DRAFT, MeetingStatus.CANCELLED]),
            _mt.c.org_id > after,
        )
    )
    for m in rows:
        c = found.setdefault(m.org_id, _empty_signals())
        c["planned"] += 1
        if m.status != MeetingStatus.CLOSED:
            continue
        c["held"] += 1
        if m.announced_at is not None and m.announced_at <= m.starts_at - ahead:
            c["agenda_on_time"] += 1
        if m.attachments:
            c["with_documents"] += 1
        c["summoned"] += m.summoned
        c["present"] += m.present
        c["comments"] += m.comments
        if m.motions:
            c["with_votes"] += 1
        if m.minutes_at is None:
            c["minutes_missing"] += 1
        elif m.closed_at is not None and m.minutes_at <= m.closed_at + due:
            c["minutes_on_time"] += 1
        if m.upper_rating:
            c["rated_by_upper"] += 1
            if m.rating and _RATING_RANK.get(m.upper_rating, 0) < _RATING_RANK.get(m.rating, 0):
                c["rated_lower_above"] += 1
    rows = await session.execute(
        select(_task.c.org_id, _task.c.status, _task.c.due_date, _task.c.updated_at)
        .join(orgs, orgs.c.org_id == _task.c.org_id)
        .where(
            _task.c.due_date >= period.start,
            _task.c.due_date <= period.end,
            _task.c.status != TaskStatus.CANCELLED,
            _task.c.org_id > after,
        )
    )
    for t in rows:
        c = found.setdefault(t.org_id, _empty_signals())
        c["tasks_due"] += 1
        if t.status == TaskStatus.DONE and t.updated_at.astimezone(zone).date() <= t.due_date:
            c["tasks_done_on_time"] += 1
    return found


def signals_shown(org_id: int, name: str, c: dict[str, int], rules: SignalRules) -> dict[str, Any]:
    """The `BranchSignals` shape of a branch's counts (rates from the counts), with the reasons
    it needs attention."""
    attendance = _rate(c["present"], c["summoned"])
    reasons = []
    if not c["held"]:
        reasons.append(AttentionReason.NO_MEETING)
    if attendance is not None and attendance < rules.attention_attendance:
        reasons.append(AttentionReason.LOW_ATTENDANCE)
    if c["minutes_missing"]:
        reasons.append(AttentionReason.MINUTES_MISSING)
    if c["rated_lower_above"]:
        reasons.append(AttentionReason.RATED_LOWER_ABOVE)
    return {
        "org_id": org_id,
        "org_name": name,
        "planned": c["planned"],
        "held": c["held"],
        "agenda_on_time": c["agenda_on_time"],
        "with_documents": c["with_documents"],
        "attendance_rate": attendance,
        "comments_per_member": round(c["comments"] / c["present"], 2) if c["present"] else None,
        "with_votes": c["with_votes"],
        "minutes_on_time": c["minutes_on_time"],
        "tasks_due": c["tasks_due"],
        "tasks_done_on_time": c["tasks_done_on_time"],
        "rated_by_upper": c["rated_by_upper"],
        "rated_lower_above": c["rated_lower_above"],
        "needs_attention": bool(reasons),
        "reasons": reasons,
    }


async def branch_rollup_rows(
    session: AsyncSession,
    basis: _Basis,
    lineage_of: dict[int, str],
    period: Period,
    rules: SignalRules,
) -> list[dict[str, Any]]:
    """The rollup's rows for every branch of `basis` (`basis_by_org`): its counts, its lineage
    on the day counted, and whether it needs attention."""
    branches = await session.execute(
        select(_org.c.id)
        .join(basis.orgs, basis.orgs.c.org_id == _org.c.id)
        .where(_org.c.kind == OrgKind.BRANCH)
    )
    counted = await signal_counts(session, basis.orgs, period, rules)
    rows = []
    for (branch_id,) in branches:
        lineage = lineage_of.get(branch_id)
        if lineage is None:
            continue
        c = counted.get(branch_id) or _empty_signals()
        rows.append(
            {
                "period_kind": period.kind.value,
                "period_start": period.start,
                "org_id": branch_id,
                "lineage": lineage,
                **c,
                "needs_attention": signals_shown(branch_id, "", c, rules)["needs_attention"],
            }
        )
    return rows


async def _live_signals(
    session: AsyncSession,
    org_id: int,
    lineage: str,
    period: Period,
    rules: SignalRules,
    *,
    attention_only: bool,
    limit: int,
    after: int,
) -> list[dict[str, Any]]:
    """Up to `limit + 1` branches' signals counted live (the whole subtree's meetings)."""
    basis = _basis([(org_id, lineage)], period.as_of, current=period.is_current)
    o = basis.orgs
    branches = (
        await session.execute(
            select(_org.c.id, _org.c.name)
            .join(o, o.c.org_id == _org.c.id)
            .where(_org.c.kind == OrgKind.BRANCH, _org.c.id > after)
            .order_by(_org.c.id)
        )
    ).all()
    counted = await signal_counts(session, o, period, rules, after=after)
    items: list[dict[str, Any]] = []
    for branch in branches:
        signals = signals_shown(
            branch.id, branch.name, counted.get(branch.id) or _empty_signals(), rules
        )
        if attention_only and not signals["needs_attention"]:
            continue
        items.append(signals)
        if len(items) > limit:
            break
    return items


async def _rolled_up_signals(
    session: AsyncSession,
    org_id: int,
    period: Period,
    rules: SignalRules,
    *,
    attention_only: bool,
    limit: int,
    after: int,
) -> tuple[list[dict[str, Any]], datetime] | None:
    """Up to `limit + 1` branches' signals from the period's rollup (one range read on the
    branches' lineage, as the tree stood when counted), or None when it cannot answer: not
    rolled up (with these rules) yet, or the org not in it (created since)."""
    if period.kind not in ROLLUP_KINDS:
        return None
    # The period's refresh and the org's row (its lineage as counted), in one read.
    state = (
        await session.execute(
            select(_rp.c.signal_rules, _rp.c.refreshed_at, _ru.c.lineage)
            .select_from(
                _rp.outerjoin(
                    _ru,
                    and_(
                        _ru.c.period_kind == _rp.c.period_kind,
                        _ru.c.period_start == _rp.c.period_start,
                        _ru.c.org_id == org_id,
                    ),
                )
            )
            .where(_rp.c.period_kind == period.kind, _rp.c.period_start == period.start)
        )
    ).first()
    if state is None or state.signal_rules != rules.key or state.lineage is None:
        return None
    lo, hi = access.subtree_range(state.lineage)
    query = (
        select(_br.c.org_id, _org.c.name, *(_br.c[n] for n in SIGNAL_COUNTS))
        .join(_org, _org.c.id == _br.c.org_id)
        .where(
            _br.c.period_kind == period.kind,
            _br.c.period_start == period.start,
            _br.c.lineage >= lo,
            _br.c.lineage < hi,
            _br.c.org_id > after,
        )
        .order_by(_br.c.org_id)
        .limit(limit + 1)
    )
    if attention_only:
        query = query.where(_br.c.needs_attention.is_(True))
    rows = await session.execute(query)
    items = [
        signals_shown(int(r.org_id), r.name, {n: int(r._mapping[n]) for n in SIGNAL_COUNTS}, rules)
        for r in rows
    ]
    refreshed: datetime = state.refreshed_at
    return items, refreshed


async def branch_signals(
    session: AsyncSession,
    org_id: int,
    period: Period,
    rules: RulesSettings,
    *,
    attention_only: bool = False,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The meeting-quality signals of every branch of the subtree (as of `as_of`), by id; with
    `attention_only`, only the branches that need attention. From the rollup for a month,
    quarter or year where it can answer (`source`, `as_of` as for the figures), live
    otherwise: both give the same signals for the same data."""
    lineage = await _lineage(session, org_id, period.as_of)
    after = decode_cursor(cursor, "branch_signals", (int,))[0] if cursor else 0
    signal_rules = SignalRules.of(rules)
    rolled = await _rolled_up_signals(
        session,
        org_id,
        period,
        signal_rules,
        attention_only=attention_only,
        limit=limit,
        after=after,
    )
    if rolled is None:
        items = await _live_signals(
            session,
            org_id,
            lineage,
            period,
            signal_rules,
            attention_only=attention_only,
            limit=limit,
            after=after,
        )
        freshness = Freshness(utcnow(), "live")
    else:
        items, refreshed = rolled
        freshness = Freshness(refreshed, "rollup")
    page, next_cursor = page_of(items, limit, "branch_signals", lambda s: (s["org_id"],))
    return {
        "org_id": org_id,
        "period": period.read(),
        "computed_at": utcnow(),
        **freshness.read(),
        "items": page,
        "next_cursor": next_cursor,
    }


# --- the lean rollup reads (the API's heavy reads) ----------------------------------------------
#
# A month, quarter or year the rollup can answer is read on the lean reader (compiled statements,
# no session): the period's refresh, the org's row and its name in one read; the branch signals in
# one more (a range of the branches' lineage). Where the rollup cannot answer (not rolled up, other
# study target or rules, the org not in it, or an org no longer active for a running period) they
# answer None and the API takes the session path above, which also decides the 404s.

_KIND = bindparam("kind", type_=String)
_START = bindparam("start", type_=Date)
_ORG = bindparam("org_id", type_=BigInteger)

_LEAN_STATE = FastQuery(
    select(
        _rp.c.target_points,
        _rp.c.refreshed_at,
        _rp.c.signal_rules,
        _ru.c.lineage,
        _org.c.name.label("org_name"),
        _org.c.is_active,
        *(_ru.c[n] for n in COUNTS),
    )
    .select_from(
        _rp.outerjoin(
            _ru,
            and_(
                _ru.c.period_kind == _rp.c.period_kind,
                _ru.c.period_start == _rp.c.period_start,
                _ru.c.org_id == _ORG,
            ),
        ).outerjoin(_org, _org.c.id == _ORG)
    )
    .where(_rp.c.period_kind == _KIND, _rp.c.period_start == _START)
)


def _lean_signals(attention_only: bool) -> FastQuery:
    query = (
        select(_br.c.org_id, *(_br.c[n] for n in SIGNAL_COUNTS))
        .where(
            _br.c.period_kind == _KIND,
            _br.c.period_start == _START,
            _br.c.lineage >= bindparam("lo", type_=String),
            _br.c.lineage < bindparam("hi", type_=String),
            _br.c.org_id > bindparam("after", type_=BigInteger),
        )
        .order_by(_br.c.org_id)
        .limit(bindparam("limit", type_=Integer))
    )
    if attention_only:
        query = query.where(_br.c.needs_attention.is_(True))
    page = query.subquery("page")
    # The names of the page's branches only, after the limit (a prepared statement's generic
    # plan takes the lineage range and sorts it: joining every branch of a province to its org
    # first cost 4.8 ms of PostgreSQL at 706 branches, 0.35 ms this way).
    return FastQuery(
        select(page, _org.c.name.label("org_name"))
        .join(_org, _org.c.id == page.c.org_id)
        .order_by(page.c.org_id)
    )


_LEAN_SIGNALS = {flag: _lean_signals(flag) for flag in (False, True)}


async def _lean_state(reader: Reader, org_id: int, period: Period) -> Any:
    """The period's refresh with the org's rollup row, or None when the rollup cannot answer for
    the org (not rolled up, the org not in it, or no longer active while the period runs)."""
    if period.kind not in ROLLUP_KINDS:
        return None
    rows = await reader.fetch(
        _LEAN_STATE, {"kind": period.kind.value, "start": period.start, "org_id": org_id}
    )
    if not rows or rows[0]["lineage"] is None or rows[0]["org_name"] is None:
        return None
    state = rows[0]
    if period.is_current and not state["is_active"]:
        return None
    return state


async def org_stats_lean(
    reader: Reader, org_id: int, period: Period, *, yearly_target: int, targets: StatsTargets
) -> dict[str, Any] | None:
    """`org_stats` from the rollup on the lean reader, or None (then `org_stats` answers)."""
    state = await _lean_state(reader, org_id, period)
    target = target_points(period, yearly_target)
    if state is None or state["target_points"] != target:
        return None
    counts = {n: int(state[n]) for n in COUNTS}
    return {
        "org_id": org_id,
        "org_name": state["org_name"],
        "period": period.read(),
        "computed_at": utcnow(),
        **Freshness(state["refreshed_at"], "rollup").read(),
        **shown(counts, target, targets),
    }


async def branch_signals_lean(
    reader: Reader,
    org_id: int,
    period: Period,
    rules: RulesSettings,
    *,
    attention_only: bool = False,
    limit: int,
    cursor: str | None,
) -> dict[str, Any] | None:
    """`branch_signals` from the rollup on the lean reader, or None (then `branch_signals`
    answers)."""
    signal_rules = SignalRules.of(rules)
    state = await _lean_state(reader, org_id, period)
    if state is None or state["signal_rules"] != signal_rules.key:
        return None
    after = decode_cursor(cursor, "branch_signals", (int,))[0] if cursor else 0
    lo, hi = access.subtree_range(state["lineage"])
    rows = await reader.fetch(
        _LEAN_SIGNALS[attention_only],
        {
            "kind": period.kind.value,
            "start": period.start,
            "lo": lo,
            "hi": hi,
            "after": after,
            "limit": limit + 1,
        },
    )
    items = [
        signals_shown(
            int(r["org_id"]), r["org_name"], {n: int(r[n]) for n in SIGNAL_COUNTS}, signal_rules
        )
        for r in rows
    ]
    page, next_cursor = page_of(items, limit, "branch_signals", lambda s: (s["org_id"],))
    return {
        "org_id": org_id,
        "period": period.read(),
        "computed_at": utcnow(),
        **Freshness(state["refreshed_at"], "rollup").read(),
        "items": page,
        "next_cursor": next_cursor,
    }
