"""The statistics rollup: each org's subtree counts per period (`stats_rollup`), refreshed by the
worker (`stats.rollup`, `WORKER__STATS_ROLLUP_*`), so that `GET /orgs/{id}/stats` for a month,
quarter or year reads the org's row (its subtree's counts) instead of counting every
member, receipt and ledger entry of it (docs/statistics.md, "Freshness").

A refresh counts with the live path's own queries (`stats.counts`), grouped by org instead of by
subtree (each member counted once, in their own org), then adds each org's counts to every org
on its lineage: each row holds its org's subtree totals as the tree stood on the period's
`as_of` (or at the refresh, for a running period), equal to the live figures by construction (a
test compares both on a generated province). Reading an org's figures is one primary-key read.
What a refresh does per period:

- the running month every run; the running quarter and year every `long_every_s`;
- a closed period once right after it closed (as of its last day, from history), again every
  `long_every_s` while late writes may still land (`settle_days`: meetings closed or rated late,
  minutes, answers to surveys still open), then once more and frozen: never counted again, unless
  the study target it was counted against changes;
- periods back to `backfill_months` are built when missing (a new deployment, or after an
  upgrade), a few closed ones per run;
- a membership or tree change that takes effect on a past day (a backdated transfer, move or
  merge) marks the periods counted as of that day or later stale (`history.rollup_stale`): the
  next run counts them again, frozen ones too.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import StatsRollup, StatsRollupPeriod
from app.models.stats_rollup import COUNTS
from app.schemas.stats import PeriodKind
from app.services import access, stats

log = logging.getLogger(__name__)

_INSERT_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Cadence:
    long_every_s: int
    settle_days: int
    backfill_months: int
    closed_per_run: int


def _month(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def periods_back(today: date, months: int) -> list[stats.Period]:
    """The running month, quarter and year, then closed ones back to `months` months ago, newest
    first."""
    found: dict[tuple[PeriodKind, date], stats.Period] = {}
    day = today
    for _ in range(months + 1):
        for kind in stats.ROLLUP_KINDS:
            period = stats.resolve_period(kind, day, None, today=today)
            found.setdefault((kind, period.start), period)
        day = day.replace(day=1) - timedelta(days=1)
    return list(found.values())


async def refresh(
    session: AsyncSession,
    period: stats.Period,
    *,
    timezone: str,
    yearly_target: int,
    now: datetime,
    frozen: bool = False,
    statement_timeout_ms: int = 0,
) -> int:
    """Count the period's rollup again (every org's row, in this transaction); the rows written.
    On PostgreSQL `statement_timeout_ms` (when set) replaces the API's statement timeout for
    this transaction: a province's year takes longer than any request may."""
    if statement_timeout_ms and session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}"))
    target = stats.target_points(period, yearly_target)
    basis, lineages = stats.basis_by_org(period.as_of, current=period.is_current)
    counted = await stats.counts(session, basis, period, timezone, target)
    lineage_of = {int(r[0]): str(r[1]) for r in await session.execute(lineages)}
    # Each org's own counts, added to every org on its lineage: each row holds its subtree's.
    totals = {org_id: [0] * len(COUNTS) for org_id in lineage_of}
    for org_id, own in counted.items():
        lineage = lineage_of.get(org_id)
        if lineage is None:
            continue
        values = [own[name] for name in COUNTS]
        for above in access.ancestor_ids(lineage):
            total = totals.get(above)
            if total is not None:
                for i, value in enumerate(values):
                    total[i] += value
    rows = [
        {
            "period_kind": period.kind.value,
            "period_start": period.start,
            "org_id": org_id,
            "lineage": lineage_of[org_id],
            **dict(zip(COUNTS, total, strict=True)),
        }
        for org_id, total in totals.items()
    ]
    await session.execute(
        delete(StatsRollup).where(
            StatsRollup.period_kind == period.kind.value,
            StatsRollup.period_start == period.start,
        )
    )
    for i in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(insert(StatsRollup), rows[i : i + _INSERT_CHUNK])
    state = await session.get(StatsRollupPeriod, (period.kind.value, period.start))
    if state is None:
        state = StatsRollupPeriod(period_kind=period.kind.value, period_start=period.start)
        session.add(state)
    state.period_end = period.end
    state.as_of = period.as_of
    state.target_points = target
    state.refreshed_at = now
    state.is_frozen = frozen
    state.is_stale = False
    state.orgs = len(rows)
    await session.flush()
    return len(rows)


@dataclass(frozen=True, slots=True)
class Due:
    period: stats.Period
    frozen: bool


async def due(
    session: AsyncSession, *, today: date, now: datetime, yearly_target: int, cadence: Cadence
) -> list[Due]:
    """The periods this run refreshes, in order: running ones first, then closed ones (at most
    `closed_per_run`)."""
    states = {
        (s.period_kind, s.period_start): s
        for s in (await session.scalars(select(StatsRollupPeriod))).all()
    }
    long_ago = now - timedelta(seconds=cadence.long_every_s)
    running: list[Due] = []
    closed: list[Due] = []
    for period in periods_back(today, cadence.backfill_months):
        state = states.get((period.kind.value, period.start))
        target = stats.target_points(period, yearly_target)
        if period.is_current:
            if (
                period.kind is PeriodKind.MONTH
                or state is None
                or state.refreshed_at <= long_ago
                or state.target_points != target
                or state.is_stale
            ):
                running.append(Due(period, frozen=False))
            continue
        settled = today > period.end + timedelta(days=cadence.settle_days)
        if (
            state is not None
            and state.is_frozen
            and not state.is_stale
            and state.target_points == target
        ):
            continue
        if (
            state is None
            or state.is_stale  # a backdated change
            or state.as_of != period.as_of  # last counted while it ran
            or state.target_points != target
            or settled  # the last count, frozen
            or state.refreshed_at <= long_ago  # settling: late writes
        ):
            closed.append(Due(period, frozen=settled))
    return running + closed[: cadence.closed_per_run]
