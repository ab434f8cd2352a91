"""Study leaderboards, read from the yearly balances (`point_balance`).

A member sees their own rank in their branch and the members around them, never a public
ranking of everyone; leadership and organisation officers see their org's members in order and
its units by average points per eligible (not exempt) member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader, Row
from app.core.errors import NotFound
from app.core.pagination import decode_cursor, page_of
from app.models import Member, Org, PointBalance, PointOrgTotal
from app.models.base import utcnow
from app.services.access import ancestor_ids, subtree_range
from app.services.auth.actor import ActorRows
from app.services.orgs import OrgTarget

NEIGHBOURS = 2

_m = Member.__table__
_b = PointBalance.__table__
_org = Org.__table__
_total = PointOrgTotal.__table__

# The reads below run on the lean reader (`FastQuery`, compiled once): every value is a named
# parameter, constants are written into the SQL (the reader binds only named parameters).
_year = bindparam("year", type_=Integer)
_ZERO: ColumnElement[int] = literal_column("0", Integer)

_ranked = _m.alias("ranked")
_ranked_balance = _b.alias("ranked_balance")
_ranked_points = func.coalesce(_ranked_balance.c.points, _ZERO)
_ranked_columns = (
    _ranked.c.id.label("ranked_id"),
    _ranked.c.full_name.label("ranked_name"),
    _ranked_points.label("ranked_points"),
)
_ranked_balance_join = and_(
    _ranked_balance.c.member_id == _ranked.c.id, _ranked_balance.c.year == _year
)


def with_branch_ranking(actor_query: Select[Any]) -> Select[Any]:
    """`/me/leaderboard` on the actor query (`ActorWith`, `:year` bound): every member of the
    actor's branch with their points in the year (0 without any), most first."""
    return (
        actor_query.outerjoin(_ranked, _ranked.c.branch_id == _m.c.branch_id)
        .outerjoin(_ranked_balance, _ranked_balance_join)
        .add_columns(*_ranked_columns)
        .order_by(_ranked_points.desc(), _ranked.c.id)
    )


# The same ranking on its own, for a year the actor's query was not bound to.
_BRANCH_RANKING = FastQuery(
    select(*_ranked_columns)
    .select_from(_ranked.outerjoin(_ranked_balance, _ranked_balance_join))
    .where(_ranked.c.branch_id == bindparam("branch_id", type_=BigInteger))
    .order_by(_ranked_points.desc(), _ranked.c.id)
)


async def my_rank(reader: Reader, me: ActorRows, *, year: int) -> dict[str, Any]:
    actor = me.actor
    rows = me.rows
    if me.params.get("year") != year:
        rows = await reader.fetch(_BRANCH_RANKING, {"branch_id": actor.branch_id, "year": year})
    ranked = []
    rank = 0
    last: int | None = None
    for position, row in enumerate(rows, start=1):
        points = int(row["ranked_points"])
        if points != last:  # equal points share a rank
            rank, last = position, points
        ranked.append(
            {
                "rank": rank,
                "member_id": row["ranked_id"],
                "full_name": row["ranked_name"],
                "points": points,
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


def _org_members_query(*, after: bool, branch: bool) -> FastQuery:
    # A branch has no orgs below it: its members are those naming it, a key that keeps one
    # generic plan (a path range's plan depends on its width: planned on every request).
    in_org = (
        _m.c.branch_id == bindparam("branch_id", type_=BigInteger)
        if branch
        else and_(
            _m.c.org_path >= bindparam("lo", type_=String),
            _m.c.org_path < bindparam("hi", type_=String),
        )
    )
    query = (
        select(_m.c.id, _m.c.full_name, _b.c.points)
        .select_from(_b.join(_m, _m.c.id == _b.c.member_id))
        .where(_b.c.year == _year, in_org)
    )
    if after:
        last_points = bindparam("last_points", type_=Integer)
        query = query.where(
            (_b.c.points < last_points)
            | ((_b.c.points == last_points) & (_m.c.id > bindparam("last_id", type_=BigInteger)))
        )
    return FastQuery(
        query.order_by(_b.c.points.desc(), _m.c.id).limit(bindparam("limit", type_=Integer)),
        generic=branch,
    )


# One statement per shape: a branch's or a larger subtree's, the first page or a later one.
_ORG_MEMBERS = {
    (after, branch): _org_members_query(after=after, branch=branch)
    for after in (False, True)
    for branch in (False, True)
}


async def org_members(
    reader: Reader, org: OrgTarget, *, year: int, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Members of the org's subtree with points in `year`, most points first (members without
    points are not listed)."""
    lo, hi = subtree_range(org.path)
    params: dict[str, Any] = {
        "year": year,
        "lo": lo,
        "hi": hi,
        "branch_id": org.id,
        "limit": limit + 1,
    }
    if cursor:
        params["last_points"], params["last_id"] = decode_cursor(cursor, "leaderboard", (int, int))
    rows = await reader.fetch(_ORG_MEMBERS[bool(cursor), org.is_branch], params)
    page, next_cursor = page_of(rows, limit, "leaderboard", lambda r: (r["points"], r["id"]))
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


_parent = _org.alias("parent")
_parent_total = _total.alias("parent_total")
_child = _org.alias("child")
# The org's children with the totals the worker counted, and when it counted the org's own (its
# `as_of`; null: never counted for the year), in one round trip. The org's own row is there even
# without children (a child id of null).
_UNITS_FROM_TOTALS = FastQuery(
    select(
        _parent_total.c.refreshed_at.label("as_of"),
        _child.c.id,
        _child.c.name,
        _total.c.points,
        _total.c.members,
    )
    .select_from(
        _parent.outerjoin(
            _parent_total,
            and_(_parent_total.c.org_id == _parent.c.id, _parent_total.c.year == _year),
        )
        .outerjoin(_child, _child.c.parent_id == _parent.c.id)
        .outerjoin(_total, and_(_total.c.org_id == _child.c.id, _total.c.year == _year))
    )
    .where(_parent.c.id == bindparam("org_id", type_=BigInteger))
)
# Counted now: every eligible member of each child's subtree (`lo <= org_path < hi`, the bounds
# of `access.subtree_range` written in SQL) with their points in the year.
_upper = func.substr(
    _child.c.path, literal_column("1"), func.length(_child.c.path) - literal_column("1")
).concat(literal_column("'0'"))
_UNITS_LIVE = FastQuery(
    select(
        _child.c.id,
        _child.c.name,
        func.count(_m.c.id).label("members"),
        func.coalesce(func.sum(_b.c.points), _ZERO).label("points"),
    )
    .select_from(
        _child.outerjoin(
            _m,
            and_(
                _m.c.org_path >= _child.c.path,
                _m.c.org_path < _upper,
                _m.c.is_exempt.is_(False),
            ),
        ).outerjoin(_b, and_(_b.c.member_id == _m.c.id, _b.c.year == _year))
    )
    .where(_child.c.parent_id == bindparam("org_id", type_=BigInteger))
    .group_by(_child.c.id, _child.c.name)
)


def _unit(org_id: int, name: str, points: int | None, members: int | None) -> dict[str, Any]:
    points, members = int(points or 0), int(members or 0)
    return {
        "org_id": org_id,
        "name": name,
        "members": members,
        "points": points,
        "average": round(points / members, 2) if members else 0.0,
    }


def _in_order(rows: Sequence[Row]) -> list[dict[str, Any]]:
    items = [_unit(r["id"], r["name"], r["points"], r["members"]) for r in rows]
    items.sort(key=lambda u: (-u["average"], u["org_id"]))
    return items


async def org_units(reader: Reader, org: OrgTarget, *, year: int) -> dict[str, Any]:
    """The org's children by average points per eligible member in `year`: from the totals the
    worker refreshes (`as_of`), or counted now when there are none yet."""
    params = {"org_id": org.id, "year": year}
    rows = await reader.fetch(_UNITS_FROM_TOTALS, params)
    as_of = rows[0]["as_of"] if rows else None
    if as_of is not None:
        children = [r for r in rows if r["id"] is not None]
        return {"year": year, "org_id": org.id, "as_of": as_of, "items": _in_order(children)}
    rows = await reader.fetch(_UNITS_LIVE, params)
    return {"year": year, "org_id": org.id, "as_of": None, "items": _in_order(rows)}
