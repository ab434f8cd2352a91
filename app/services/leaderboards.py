"""Study leaderboards, read from the yearly balances (`point_balance`).

A member sees their own rank in their branch and the members around them, never a public
ranking of everyone; leadership and organisation officers see their org's members in order and
its units by average points per eligible (not exempt) member.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import decode_cursor, page_of
from app.models import Member, Org, PointBalance
from app.services.access import Actor, subtree_range
from app.services.orgs import OrgTarget

NEIGHBOURS = 2

_m = Member.__table__
_b = PointBalance.__table__
_org = Org.__table__


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
    mine = next(i for i, r in enumerate(ranked) if r["member_id"] == actor.member_id)
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


async def org_units(session: AsyncSession, org: OrgTarget, *, year: int) -> dict[str, Any]:
    """The org's children by average points per eligible member in `year`."""
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
    items = [
        {
            "org_id": r.id,
            "name": r.name,
            "members": int(r.members),
            "points": int(r.points),
            "average": round(int(r.points) / int(r.members), 2) if r.members else 0.0,
        }
        for r in rows
    ]
    items.sort(key=lambda u: (-u["average"], u["org_id"]))
    return {"year": year, "org_id": org.id, "items": items}
