"""Which periods a run of the rollup job counts: the running month every run, the running
quarter and year on the long cadence, a closed period right after it closed, hourly while it
settles, then once more frozen; frozen periods again only when stale, the target changed or the
branch signals were counted with other rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings
from app.models import StatsRollupPeriod
from app.schemas.stats import PeriodKind
from app.services import stats, stats_rollup

TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
CADENCE = stats_rollup.Cadence(
    long_every_s=3600, settle_days=7, backfill_months=1, closed_per_run=10
)
SIGNALS = stats.SignalRules.of(RulesSettings()).key


def _names(due: list[stats_rollup.Due]) -> list[tuple[str, str, bool]]:
    return [(d.period.kind.value, d.period.start.isoformat(), d.frozen) for d in due]


def _state(
    kind: str,
    start: date,
    end: date,
    *,
    as_of: date,
    refreshed_at: datetime,
    target: int,
    frozen: bool = False,
    stale: bool = False,
) -> StatsRollupPeriod:
    return StatsRollupPeriod(
        period_kind=kind,
        period_start=start,
        period_end=end,
        as_of=as_of,
        target_points=target,
        refreshed_at=refreshed_at,
        is_frozen=frozen,
        is_stale=stale,
        orgs=1,
        signal_rules=SIGNALS,
    )


async def test_a_first_run_counts_the_running_periods_then_the_closed_month(
    session: AsyncSession,
) -> None:
    due = await stats_rollup.due(
        session, today=TODAY, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert _names(due) == [
        ("month", "2026-12-01", False),
        ("quarter", "2026-10-01", False),
        ("year", "2026-01-01", False),
        ("month", "2026-11-01", False),  # closed two days ago: still settling
    ]


async def test_later_runs_follow_the_cadence_and_freeze_a_settled_month(
    session: AsyncSession,
) -> None:
    november = stats.resolve_period(PeriodKind.MONTH, date(2026, 11, 5), None, today=TODAY)
    month_target = stats.target_points(november, 200)
    recent = NOW - timedelta(minutes=10)
    quarter = stats.resolve_period(PeriodKind.QUARTER, TODAY, None, today=TODAY)
    year = stats.resolve_period(PeriodKind.YEAR, TODAY, None, today=TODAY)
    session.add_all(
        [
            _state(
                "quarter",
                quarter.start,
                quarter.end,
                as_of=TODAY,
                refreshed_at=recent,
                target=stats.target_points(quarter, 200),
            ),
            _state(
                "year",
                year.start,
                year.end,
                as_of=TODAY,
                refreshed_at=NOW - timedelta(hours=2),  # due on the long cadence
                target=200,
            ),
            _state(
                "month",
                november.start,
                november.end,
                as_of=november.end,
                refreshed_at=recent,  # counted after it closed, within the hour
                target=month_target,
            ),
        ]
    )
    await session.flush()

    due = await stats_rollup.due(
        session, today=TODAY, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert _names(due) == [("month", "2026-12-01", False), ("year", "2026-01-01", False)]

    # Ten days after November closed: counted once more, frozen; then left alone.
    later = TODAY + timedelta(days=8)
    due = await stats_rollup.due(
        session, today=later, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert ("month", "2026-11-01", True) in _names(due)
    state = await session.get(StatsRollupPeriod, ("month", november.start))
    assert state is not None
    state.is_frozen = True
    await session.flush()
    due = await stats_rollup.due(
        session, today=later, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert ("month", "2026-11-01", True) not in _names(due)

    # A backdated change, or another study target, counts a frozen period again.
    state.is_stale = True
    await session.flush()
    due = await stats_rollup.due(
        session, today=later, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert ("month", "2026-11-01", True) in _names(due)
    state.is_stale = False
    await session.flush()
    due = await stats_rollup.due(
        session, today=later, now=NOW, yearly_target=240, cadence=CADENCE, signal_rules=SIGNALS
    )
    assert ("month", "2026-11-01", True) in _names(due)
    # So do other rules for the branch signals (or none: counted before they were rolled up).
    for counted_with in ("agenda=9d;minutes=1h;attendance=0.5;tz=UTC", None):
        state.signal_rules = counted_with
        await session.flush()
        due = await stats_rollup.due(
            session, today=later, now=NOW, yearly_target=200, cadence=CADENCE, signal_rules=SIGNALS
        )
        assert ("month", "2026-11-01", True) in _names(due)
