"""Study points: an append-only ledger with a unique source key, and yearly balances.

The one call other areas use (meetings for attendance, content for a document studied):

    from app.services import points
    await points.award(
        session,
        member_id=member.id,
        points=points.rule_points(settings.rules, PointSource.MEETING),
        source=PointSource.MEETING,
        source_key=f"meeting:{meeting.id}:member:{member.id}",
        reason="Dự sinh hoạt chi bộ tháng 12",
    )

It joins the caller's transaction, is idempotent by `source_key` (a unique index and
`ON CONFLICT DO NOTHING` on both databases, so concurrent requests award once), and returns the
new entry's id, or `None` when that key was already awarded. Entries are never edited: a
correction is a new entry with negative points. The member's yearly `point_balance` row is
updated with it (in the same statement on PostgreSQL), so home screens and leaderboards read
one row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CTE, Integer, RowMapping, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings, get_settings
from app.core.db import FastQuery, Row, SessionQueries, Statements, dialect_insert
from app.core.errors import Conflict, Unprocessable
from app.core.pagination import decode_cursor, page_of
from app.core.security import new_id
from app.models import Member, PointBalance, PointEntry, PointSource
from app.models.base import utcnow
from app.services import audit
from app.services import rules as rules_service
from app.services.access import Actor
from app.services.members import MemberTarget
from app.services.rules import Rules

_entry = PointEntry.__table__
_balance = PointBalance.__table__
_member = Member.__table__


def rule_points(rules: RulesSettings | Rules, source: PointSource) -> int:
    """The deployment's points for a source (the rules in force: `rules.fresh` in a write)."""
    return {
        PointSource.DOCUMENT: rules.study_points_document,
        PointSource.MEETING: rules.study_points_meeting,
        PointSource.QUIZ: rules.study_points_quiz,
    }.get(source, 0)


def local_year(at: datetime, timezone: str | None = None) -> int:
    return at.astimezone(ZoneInfo(timezone or get_settings().rules.timezone)).year


async def _capped(
    session: AsyncSession, rules: RulesSettings, member_id: int, points: int, at: datetime
) -> int:
    """Documents studied count up to the daily cap (local day, the cap in force) against
    gaming."""
    cap = (await rules_service.fresh(session, rules)).study_points_document_daily_cap
    zone = ZoneInfo(rules.timezone)
    local = at.astimezone(zone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    since = day_start.astimezone(ZoneInfo("UTC"))
    until = (day_start + timedelta(days=1)).astimezone(ZoneInfo("UTC"))
    today = await session.scalar(
        select(func.coalesce(func.sum(_entry.c.points), 0)).where(
            _entry.c.member_id == member_id,
            _entry.c.source == PointSource.DOCUMENT,
            _entry.c.created_at >= since,
            _entry.c.created_at < until,
        )
    )
    return max(0, min(points, cap - int(today or 0)))


# The award's statements, built once per database with bound parameters (no statement built
# or compiled per call): the entry (`ON CONFLICT DO NOTHING` on the source key), the balance's
# upsert and, on PostgreSQL, both in one round trip (a data-modifying CTE: the balance moves only
# if the entry is new).
_AWARD_COLUMNS = (
    "member_id",
    "points",
    "year",
    "source",
    "source_key",
    "reason",
    "note",
    "created_by_id",
    "created_at",
)
_AWARD: dict[str, tuple[FastQuery, FastQuery, FastQuery | None]] = {}


def _entry_insert(dialect: str) -> Any:
    """The ledger entry on the `p_*` parameters, nothing on a source key awarded before."""
    return (
        dialect_insert(dialect, _entry)
        .values({c: bindparam(f"p_{c}") for c in _AWARD_COLUMNS})
        .on_conflict_do_nothing(index_elements=["source_key"])
    )


def award_ctes() -> tuple[CTE, CTE]:
    """PostgreSQL: the entry (`new_entry`, returning its id; nothing on a known source key) and
    the balance moved by it (`new_balance`) as data-modifying CTEs, on the `p_*` parameters of
    `award_params`: for a statement that awards beside its own writes (a quiz submit)."""
    if not _AWARD_CTES:
        new_entry = (
            _entry_insert("postgresql")
            .returning(_entry.c.id, _entry.c.member_id, _entry.c.year, _entry.c.points)
            .cte("new_entry")
        )
        from_new = dialect_insert("postgresql", _balance).from_select(
            ["member_id", "year", "points"],
            select(new_entry.c.member_id, new_entry.c.year, new_entry.c.points),
        )
        new_balance = from_new.on_conflict_do_update(
            index_elements=["member_id", "year"],
            set_={"points": _balance.c.points + from_new.excluded.points},
        ).cte("new_balance")
        _AWARD_CTES.extend((new_entry, new_balance))
    return _AWARD_CTES[0], _AWARD_CTES[1]


_AWARD_CTES: list[CTE] = []


def _award_statements(dialect: str) -> tuple[FastQuery, FastQuery, FastQuery | None]:
    built = _AWARD.get(dialect)
    if built is None:
        entry = _entry_insert(dialect)
        upsert = dialect_insert(dialect, _balance).values(
            member_id=bindparam("p_member_id"),
            year=bindparam("p_year"),
            points=bindparam("p_points"),
        )
        balance = upsert.on_conflict_do_update(
            index_elements=["member_id", "year"],
            set_={"points": _balance.c.points + upsert.excluded.points},
        )
        together = None
        if dialect == "postgresql":
            new_entry, new_balance = award_ctes()
            together = FastQuery(select(new_entry.c.id).add_cte(new_balance))
        built = _AWARD[dialect] = (
            FastQuery(entry.returning(_entry.c.id)),
            FastQuery(balance),
            together,
        )
    return built


def award_params(
    *,
    member_id: int,
    points: int,
    source: PointSource,
    source_key: str,
    reason: str,
    note: str | None = None,
    created_by_id: int | None = None,
    at: datetime,
) -> dict[str, Any]:
    """The `p_*` parameters of the award's statements (`award`, `award_ctes`)."""
    return {
        "p_member_id": member_id,
        "p_points": points,
        "p_year": local_year(at, get_settings().rules.timezone),
        "p_source": str(source),
        "p_source_key": source_key[:200],
        "p_reason": reason[:200],
        "p_note": note,
        "p_created_by_id": created_by_id,
        "p_created_at": at,
    }


async def award(
    session: AsyncSession | Statements,
    *,
    member_id: int,
    points: int,
    source: PointSource,
    source_key: str,
    reason: str,
    note: str | None = None,
    created_by_id: int | None = None,
    at: datetime | None = None,
) -> int | None:
    """Add `points` (negative for a correction) for `source_key`, once. Returns the new entry's
    id, or `None` if `source_key` was awarded before. A document studied past the daily cap is
    still recorded, with the points left under the cap (maybe 0), so it never counts later.
    `session` is the caller's session, or its lean unit of work (`Statements`: not for
    documents, whose cap reads the rules through a session)."""
    rules = get_settings().rules
    at = at or utcnow()
    if isinstance(session, AsyncSession):
        if source == PointSource.DOCUMENT and points > 0:
            points = await _capped(session, rules, member_id, points, at)
        tx: Statements = SessionQueries(session)
    else:
        if source == PointSource.DOCUMENT:
            raise TypeError("document points are awarded through a session (the daily cap)")
        tx = session
    params = award_params(
        member_id=member_id,
        points=points,
        source=source,
        source_key=source_key,
        reason=reason,
        note=note,
        created_by_id=created_by_id,
        at=at,
    )
    entry, balance, together = _award_statements(tx.dialect)
    if points and together is not None:
        rows = await tx.fetch(together, params)
        return int(rows[0]["id"]) if rows else None
    rows = await tx.fetch(entry, params)
    if not rows:
        return None
    if points:
        await tx.execute(balance, params)
    return int(rows[0]["id"])


async def award_manual(
    session: AsyncSession,
    actor: Actor,
    member: MemberTarget,
    *,
    points: int,
    note: str,
    reason: str | None,
) -> dict[str, Any]:
    """An officer's award or correction, with a note; audited."""
    rules = await rules_service.fresh(session, get_settings().rules)
    if points == 0 or abs(points) > rules.study_points_manual_max:
        raise Unprocessable(
            f"Số điểm phải khác 0 và không quá {rules.study_points_manual_max} điểm mỗi lần.",
            code="points.out_of_range",
        )
    reason = reason or ("Cộng điểm" if points > 0 else "Điều chỉnh điểm")
    entry_id = await award(
        session,
        member_id=member.id,
        points=points,
        source=PointSource.MANUAL,
        source_key=f"manual:{new_id()}",
        reason=reason,
        note=note,
        created_by_id=actor.member_id,
    )
    if entry_id is None:  # cannot happen: a fresh key
        raise Conflict(code="points.duplicate")
    await audit.record(
        session,
        actor,
        "points.award",
        target=("point_entry", entry_id),
        org_id=member.branch_id,
        detail={"member_id": member.id, "points": points, "reason": reason, "note": note},
    )
    row = (await session.execute(select(_entry).where(_entry.c.id == entry_id))).mappings().one()
    return _entry_read(row)


def _entry_read(row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "points": row["points"],
        "year": row["year"],
        "source": row["source"],
        "reason": row["reason"],
        "note": row["note"],
        "created_at": row["created_at"],
        "created_by_id": row["created_by_id"],
    }


async def list_entries(
    session: AsyncSession,
    member_id: int,
    *,
    year: int | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A member's ledger, newest first."""
    query = select(_entry).where(_entry.c.member_id == member_id)
    if year is not None:
        query = query.where(_entry.c.year == year)
    if cursor:
        (last_id,) = decode_cursor(cursor, "points", (int,))
        query = query.where(_entry.c.id < last_id)
    rows = (await session.execute(query.order_by(_entry.c.id.desc()).limit(limit + 1))).mappings()
    page, next_cursor = page_of(list(rows), limit, "points", lambda r: (r["id"],))
    return [_entry_read(r) for r in page], next_cursor


# `/me/points` on the actor query (`ActorWith`): one row per year with points, newest first.
_my_balance = _balance.alias("my_balance")


def with_balances(actor_query: Select[Any]) -> Select[Any]:
    return (
        actor_query.outerjoin(_my_balance, _my_balance.c.member_id == _member.c.id)
        .add_columns(
            _my_balance.c.year.label("balance_year"), _my_balance.c.points.label("balance_points")
        )
        .order_by(_my_balance.c.year.desc())
    )


def my_points(
    rows: Sequence[Row], *, timezone: str, target: int, year: int | None = None
) -> dict[str, Any]:
    """This year's (or `year`'s) points against the target, and every year's total, from the
    actor's rows (`with_balances`)."""
    years = [
        {"year": int(r["balance_year"]), "points": int(r["balance_points"])}
        for r in rows
        if r["balance_year"] is not None
    ]
    year = year or local_year(utcnow(), timezone)
    points = next((y["points"] for y in years if y["year"] == year), 0)
    return {
        "year": year,
        "points": points,
        "target": target,
        "remaining": max(0, target - points),
        "years": years,
    }


# `/me/home`: this year's points as a column of the actor query (see services.auth.actor).
def year_points_column(member_id_column: Any) -> Any:
    return (
        select(_balance.c.points)  # null without points (one row at most: the primary key)
        .where(
            _balance.c.member_id == member_id_column,
            _balance.c.year == bindparam("year", type_=Integer),
        )
        .scalar_subquery()
        .label("year_points")
    )
