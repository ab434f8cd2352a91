"""Study leaderboards, read from the yearly balances (`point_balance`).

A member sees their own rank in their branch and the members around them, never a public
ranking of everyone; leadership and organisation officers see their org's members in order and
its units by average points per eligible (not exempt) member.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.pagination import decode_cursor, page_of
from app.models import Member, Org, PointBalance, PointOrgTotal
from app.models.base import utcnow
from app.services.access import Actor, ancestor_ids, subtree_range
from app.services.orgs import OrgTarget

NEIGHBOURS = 2

_m = Member.__table__
_b = PointBalance.__table__
_org = Org.__table__
_total = PointOrgTotal.__table__


def _points_join(year: int) -> Any:
    return _m.outerjoin(_b, and_(_b.c.member_id == _m.c.id, _b.c.year == year))


async def my_rank(session: AsyncSession, actor: Actor, *, year: int) -> dict[str, Any]:
    points = func.coalesce(_b.c.points, 0)
    rows = (
        await session.execute(
            select(_m.c.id, _m.c.full_name, points.label("points"))
            .select_from(_points_join(year))
            .where(_m.c.branch_id == actor.branch_id)
            .order_by(points.desc(), _m.c.id)
        )
    ).all()
    ranked = []
    rank = 0
    last: int | None = None
    for position, row in enumerate(rows, start=1):
        if row.points != last:  # equal points share a rank
            rank, last = position, row.points
        ranked.append(
            {
                "rank": rank,
                "member_id": row.id,
                "full_name": row.full_name,
                "points": int(row.points),
            }
        )
    mine = next((i for i, r in enumerate(ranked) if r["member_id"] == actor.member_id), None)
    if mine is None:  # moved to another branch since the request began
        raise NotFound("Không tìm thấy đảng viên trong chi bộ.", code="member.not_found")
    return {
        "year": year,
        "branch_id": actor.branch_id,
        "members": len(ranked),
        "me": ranked[mine],
        "neighbours": ranked[max(0, mine - NEIGHBOURS) : mine + NEIGHBOURS + 1],
    }


async def org_members(
    session: AsyncSession, org: OrgTarget, *, year: int, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Members of the org's subtree with points in `year`, most points first (members without
    points are not listed)."""
    lo, hi = subtree_range(org.path)
    query = (
        select(_m.c.id, _m.c.full_name, _b.c.points)
        .select_from(_b.join(_m, _m.c.id == _b.c.member_id))
        .where(_b.c.year == year, _m.c.org_path >= lo, _m.c.org_path < hi)
    )
    if cursor:
        last_points, last_id = decode_cursor(cursor, "leaderboard", (int, int))
        query = query.where(
            (_b.c.points < last_points) | ((_b.c.points == last_points) & (_m.c.id > last_id))
        )
    rows = (
        (await session.execute(query.order_by(_b.c.points.desc(), _m.c.id).limit(limit + 1)))
        .mappings()
        .all()
    )
    page, next_cursor = page_of(list(rows), limit, "leaderboard", lambda r: (r["points"], r["id"]))
    return [
        {"rank": 0, "member_id": r["id"], "full_name": r["full_name"], "points": r["points"]}
        for r in page
    ], next_cursor


async def refresh_unit_totals(session: AsyncSession, *, year: int) -> int:
    """Recompute `point_org_total` for `year`: one pass over members and their balances by
    branch, rolled up to every org above along the branch's path. Returns the orgs written."""
    points = func.coalesce(func.sum(_b.c.points), 0)
    rows = (
        await session.execute(
            select(_org.c.path, func.count(_m.c.id).label("members"), points.label("points"))
            .select_from(
                _m.join(_org, _org.c.id == _m.c.branch_id).outerjoin(
                    _b, and_(_b.c.member_id == _m.c.id, _b.c.year == year)
                )
            )
            .where(_m.c.is_exempt.is_(False))
            .group_by(_org.c.path)
        )
    ).all()
    totals: dict[int, list[int]] = {}
    for row in rows:
        for org_id in ancestor_ids(row.path):
            total = totals.setdefault(org_id, [0, 0])
            total[0] += int(row.points)
            total[1] += int(row.members)
    now = utcnow()
    await session.execute(delete(PointOrgTotal).where(PointOrgTotal.year == year))
    values = [
        {"org_id": k, "year": year, "points": p, "members": m, "refreshed_at": now}
        for k, (p, m) in totals.items()
    ]
    for start in range(0, len(values), 5000):
        await session.execute(insert(PointOrgTotal), values[start : start + 5000])
    return len(values)


async def _units_from_totals(
    session: AsyncSession, org: OrgTarget, *, year: int
) -> dict[str, Any] | None:
    refreshed = await session.scalar(
        select(_total.c.refreshed_at).where(_total.c.org_id == org.id, _total.c.year == year)
    )
    if refreshed is None:
        return None
    rows = (
        await session.execute(
            select(_org.c.id, _org.c.name, _total.c.points, _total.c.members)
            .select_from(
                _org.outerjoin(_total, and_(_total.c.org_id == _org.c.id, _total.c.year == year))
            )
            .where(_org.c.parent_id == org.id)
        )
    ).all()
    return {"as_of": refreshed, "items": [_unit(r.id, r.name, r.points, r.members) for r in rows]}


def _unit(org_id: int, name: str, points: int | None, members: int | None) -> dict[str, Any]:
    points, members = int(points or 0), int(members or 0)
    return {
        "org_id": org_id,
        "name": name,
        "members": members,
        "points": points,
        "average": round(points / members, 2) if members else 0.0,
    }


async def org_units(session: AsyncSession, org: OrgTarget, *, year: int) -> dict[str, Any]:
    """The org's children by average points per eligible member in `year`: from the totals the
    worker refreshes (`as_of`), or counted now when there are none yet."""
    cached = await _units_from_totals(session, org, year=year)
    if cached is not None:
        cached["items"].sort(key=lambda u: (-u["average"], u["org_id"]))
        return {"year": year, "org_id": org.id, **cached}
    return await _units_live(session, org, year=year)


async def _units_live(session: AsyncSession, org: OrgTarget, *, year: int) -> dict[str, Any]:
    child = _org.alias("child")
    upper = func.substr(child.c.path, 1, func.length(child.c.path) - 1).concat(literal("0"))
    rows = (
        await session.execute(
            select(
                child.c.id,
                child.c.name,
                func.count(_m.c.id).label("members"),
                func.coalesce(func.sum(_b.c.points), 0).label("points"),
            )
            .select_from(
                child.outerjoin(
                    _m,
                    and_(
                        _m.c.org_path >= child.c.path,
                        _m.c.org_path < upper,
                        _m.c.is_exempt.is_(False),
                    ),
                ).outerjoin(_b, and_(_b.c.member_id == _m.c.id, _b.c.year == year))
            )
            .where(child.c.parent_id == org.id)
            .group_by(child.c.id, child.c.name)
        )
    ).all()
    items = [_unit(r.id, r.name, r.points, r.members) for r in rows]
    items.sort(key=lambda u: (-u["average"], u["org_id"]))
    return {"year": year, "org_id": org.id, "as_of": None, "items": items}
