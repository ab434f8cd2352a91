"""Time the statistics rollup on a populated database (e.g. the Hà Nội-sized bench database):
the live root statistics, the refresh of each rolled-up period, and the root (and per-child)
statistics summed from the rollup.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/handbook_bench DB__STATEMENT_TIMEOUT_MS=0 \\
        python3 dev.py run python tools/time_stats_rollup.py [--live-runs 2] [--reads 20]

It creates the two rollup tables when they are missing (what migration 0780 adds, nothing
else) and writes only to them; `--drop` removes them afterwards (a database whose Alembic
version predates 0780 then upgrades normally).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import create_engine
from app.models import Org, StatsRollup, StatsRollupPeriod
from app.schemas.stats import PeriodKind
from app.services import history, stats, stats_rollup
from app.services.rules import StatsTargets

TARGETS = StatsTargets(0.95, 0.90, 1.0, 0.80)
YEARLY = 200


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected: {what}")


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"median {1000 * statistics.median(ordered):.1f} ms, best {1000 * ordered[0]:.1f} ms, "
        f"p99 {1000 * p99:.1f} ms (n={len(ordered)})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--live-runs", type=int, default=2)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    rules = settings.rules
    engine = create_engine(settings, null_pool=True)
    async with engine.begin() as conn:
        for table in (StatsRollupPeriod.__table__, StatsRollup.__table__):
            await conn.run_sync(lambda c, t=table: t.create(c, checkfirst=True))
    today = history.local_today(rules.timezone)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        root_id, root_path = (
            await session.execute(
                select(Org.id, Org.path).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1)
            )
        ).one()
        members = await session.scalar(text("SELECT count(*) FROM member"))
        say(f"root {root_id}, {members:,} members, today {today}")
        month = stats.resolve_period(PeriodKind.MONTH, None, None, today=today)

        async def root_stats(period: stats.Period) -> dict[str, Any]:
            return await stats.org_stats(
                session, root_id, period, rules, yearly_target=YEARLY, targets=TARGETS
            )

        live: list[float] = []
        for _ in range(args.live_runs):
            started = time.perf_counter()
            before = await stats.org_stats(
                session, root_id, month, rules, yearly_target=YEARLY, targets=TARGETS
            )
            live.append(time.perf_counter() - started)
            check(before["source"] == "live", before["source"])
            await session.rollback()
        say(f"live root, this month: {_ms(live)}")

        periods = stats_rollup.periods_back(today, 1)
        for period in periods:
            started = time.perf_counter()
            async with session.begin():
                orgs = await stats_rollup.refresh(
                    session,
                    period,
                    timezone=rules.timezone,
                    yearly_target=YEARLY,
                    now=datetime.now(UTC),
                    signal_rules=stats.SignalRules.of(rules),
                    frozen=not period.is_current,
                    statement_timeout_ms=settings.worker.stats_rollup_statement_timeout_ms,
                )
            say(
                f"refresh {period.kind.value} {period.start} "
                f"({'running' if period.is_current else 'closed'}): {orgs:,} rows, "
                f"{time.perf_counter() - started:.1f} s"
            )
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE stats_rollup"))

        for period in periods:
            reads: list[float] = []
            for _ in range(args.reads):
                started = time.perf_counter()
                after = await root_stats(period)
                reads.append(time.perf_counter() - started)
                await session.rollback()
            check(after["source"] == "rollup", after["source"])
            say(f"rollup root, {period.kind.value} {period.start}: {_ms(reads)}")
        reads = []
        for _ in range(args.reads):
            started = time.perf_counter()
            children = await stats.child_stats(
                session, root_id, month, rules, yearly_target=YEARLY, targets=TARGETS
            )
            reads.append(time.perf_counter() - started)
            await session.rollback()
        say(f"rollup per-child breakdown ({len(children['items'])} children): {_ms(reads)}")
        # The same figures both ways (this month at the root).
        live_figures = await stats.figures(
            session, [(root_id, root_path)], month, rules, yearly_target=YEARLY, targets=TARGETS
        )
        served, _ = await stats.figures_served(
            session, [(root_id, root_path)], month, rules, yearly_target=YEARLY, targets=TARGETS
        )
        say(f"rollup == live (this month, root): {served == live_figures}")
        await session.rollback()
    if args.drop:
        async with engine.begin() as conn:
            for table in (StatsRollup.__table__, StatsRollupPeriod.__table__):
                await conn.run_sync(lambda c, t=table: t.drop(c, checkfirst=True))
        say("rollup tables dropped")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
