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

The same refresh writes each branch's meeting-quality counts (`stats_branch_rollup`, with the
rules they were counted with in `stats_rollup_period.signal_rules`), so the branch signals and
the list of branches that need attention are one range read on the branches' lineage too.
`run` is one run of the worker's job (`stats.rollup`); `handbook seed` runs it once at the end of
a generated province, and the bench before measuring when the rollup is missing.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings, WorkerSettings
from app.core.db import Database
from app.models import StatsBranchRollup, StatsRollup, StatsRollupPeriod
from app.models.stats_rollup import COUNTS
from app.schemas.stats import PeriodKind
from app.services import access, deployment_settings, history, stats
from app.services import rules as rule_service

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
    signal_rules: stats.SignalRules,
    frozen: bool = False,
    statement_timeout_ms: int = 0,
) -> int:
    """Count the period's rollup again (every org's row and every branch's signals, in this
    transaction); the org rows written. On PostgreSQL `statement_timeout_ms` (when set)
    replaces the API's statement timeout for this transaction: a province's year takes longer
    than any request may."""
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
    branches = await stats.branch_rollup_rows(session, basis, lineage_of, period, signal_rules)
    await session.execute(
        delete(StatsBranchRollup).where(
            StatsBranchRollup.period_kind == period.kind.value,
            StatsBranchRollup.period_start == period.start,
        )
    )
    for i in range(0, len(branches), _INSERT_CHUNK):
        await session.execute(insert(StatsBranchRollup), branches[i : i + _INSERT_CHUNK])
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
    state.signal_rules = signal_rules.key
    await session.flush()
    return len(rows)


@dataclass(frozen=True, slots=True)
class Due:
    period: stats.Period
    frozen: bool


async def due(
    session: AsyncSession,
    *,
    today: date,
    now: datetime,
    yearly_target: int,
    cadence: Cadence,
    signal_rules: str,
) -> list[Due]:
    """The periods this run refreshes, in order: running ones first, then closed ones (at most
    `closed_per_run`). A period counted with other rules for the branch signals (`signal_rules`,
    `stats.SignalRules.key`; None before they were rolled up) is counted again, as one counted
    against another study target."""
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
                or state.signal_rules != signal_rules
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
            and state.signal_rules == signal_rules
        ):
            continue
        if (
            state is None
            or state.is_stale  # a backdated change
            or state.as_of != period.as_of  # last counted while it ran
            or state.target_points != target
            or state.signal_rules != signal_rules
            or settled  # the last count, frozen
            or state.refreshed_at <= long_ago  # settling: late writes
        ):
            closed.append(Due(period, frozen=settled))
    return running + closed[: cadence.closed_per_run]


def _quiet(_message: str) -> None:
    return None


async def run(
    db: Database,
    rules: RulesSettings,
    worker: WorkerSettings,
    *,
    now: datetime,
    cache: deployment_settings.Cache | None = None,
    stopping: asyncio.Event | None = None,
    progress: Callable[[str], None] = _quiet,
    clock: Callable[[], datetime] | None = None,
) -> list[dict[str, object]]:
    """One run of the refresh job (`stats.rollup`): the periods due (`due`), each counted in a
    transaction of its own; what was done, a dict per period. The worker runs it every
    `WORKER__STATS_ROLLUP_EVERY_S`; `handbook seed` (a generated province) and the bench's
    preparation run it once. `clock` (the worker's) stamps each period's refresh time."""
    today = history.local_today(rules.timezone, now)
    cadence = Cadence(
        long_every_s=worker.stats_rollup_long_every_s,
        settle_days=worker.stats_rollup_settle_days,
        backfill_months=worker.stats_rollup_backfill_months,
        closed_per_run=worker.stats_rollup_closed_per_run,
    )
    signal_rules = stats.SignalRules.of(rules)
    async with db.read() as session:
        in_force = await rule_service.current(
            session, deployment_settings.new_cache() if cache is None else cache, rules
        )
        periods = await due(
            session,
            today=today,
            now=now,
            yearly_target=in_force.study_points_target,
            cadence=cadence,
            signal_rules=signal_rules.key,
        )
    done: list[dict[str, object]] = []
    for item in periods:
        if stopping is not None and stopping.is_set():
            break
        started = time.perf_counter()
        async with db.write.begin() as session:
            orgs = await refresh(
                session,
                item.period,
                timezone=rules.timezone,
                yearly_target=in_force.study_points_target,
                now=now if clock is None else clock(),
                signal_rules=signal_rules,
                frozen=item.frozen,
                statement_timeout_ms=worker.stats_rollup_statement_timeout_ms,
            )
        seconds = round(time.perf_counter() - started, 3)
        name = f"{item.period.kind}:{item.period.start.isoformat()}"
        done.append({"period": name, "orgs": orgs, "seconds": seconds, "frozen": item.frozen})
        progress(f"statistics rollup {name}: {orgs:,} orgs, {seconds:.1f} s")
    return done


async def missing(db: Database, rules: RulesSettings, *, now: datetime) -> bool:
    """Whether the running month has no rollup counted with today's signal rules (a province
    seeded before the rollup existed, or a new month): what the bench checks before it reads."""
    today = history.local_today(rules.timezone, now)
    period = stats.resolve_period(PeriodKind.MONTH, today, None, today=today)
    async with db.read() as session:
        counted = await session.scalar(
            select(StatsRollupPeriod.signal_rules).where(
                StatsRollupPeriod.period_kind == period.kind.value,
                StatsRollupPeriod.period_start == period.start,
            )
        )
    return counted != stats.SignalRules.of(rules).key
