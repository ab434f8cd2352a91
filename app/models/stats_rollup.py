"""Statistics rollups: each org's subtree counts for a period (month, quarter, year), refreshed
by the worker (`stats.rollup`), so that an org's statistics read one row instead of counting
every member of its subtree (docs/statistics.md, "Freshness")."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, ByteText, UTCDateTime

# The additive counts `services/stats.py` counts per group (summable over disjoint groups), and
# the columns of `stats_rollup`.
COUNTS: tuple[str, ...] = (
    "eligible",
    "activated",
    "monthly_active",
    "active_in_period",
    "readers",
    "studiers",
    "points_total",
    "reaching_target",
    "answered",
    "branches",
    "branches_meeting",
    "planned",
    "held",
    "with_minutes",
    "summoned",
    "present",
    "rated_good",
    "rated_fair",
    "rated_average",
    "rated_poor",
    "rated_unrated",
    "documents_published",
    "articles_published",
)

# A branch's meeting-quality counts for a period (`services/stats.py`, `signal_counts`), the
# columns of `stats_branch_rollup`: the signals are shown from them (rates from the counts).
SIGNAL_COUNTS: tuple[str, ...] = (
    "planned",
    "held",
    "agenda_on_time",
    "with_documents",
    "summoned",
    "present",
    "comments",
    "with_votes",
    "minutes_on_time",
    "minutes_missing",
    "tasks_due",
    "tasks_done_on_time",
    "rated_by_upper",
    "rated_lower_above",
)


class StatsRollupPeriod(Base):
    """One refresh of a period's rollup: when it was counted, as of which day, with which
    prorated study target, and whether it is final (frozen)."""

    __tablename__ = "stats_rollup_period"

    period_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    period_end: Mapped[date] = mapped_column(Date)
    # The day whose tree and memberships the rows use (the period's last day once it closed).
    as_of: Mapped[date] = mapped_column(Date)
    # The study target (prorated to the period) that `reaching_target` was counted against.
    target_points: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Counted after the period closed and settled: the refresh job leaves it alone (unless the
    # study target changes).
    is_frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    # A change took effect on a day the rows cover (a backdated transfer, move or merge): the
    # next refresh counts the period again, frozen or not.
    is_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    orgs: Mapped[int] = mapped_column(Integer)
    # The rules the branch signals were counted with (`stats.SignalRules.key`: agenda days
    # ahead, minutes due, attendance threshold, timezone); None: counted before the branch
    # signals were rolled up. Another value than today's rules: the API counts them live.
    signal_rules: Mapped[str | None] = mapped_column(String(120), default=None)


class StatsRollup(Base):
    """An org's subtree counts for a period (its own members, meetings and content plus those of
    every org below it, as the tree stood on the period's `as_of`, or at the refresh for a
    running period), with the org's lineage of that day. `lineage` is history (the tree the
    counts used), not a copy of today's path: a later move never rewrites it."""

    __tablename__ = "stats_rollup"

    period_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    lineage: Mapped[str] = mapped_column(ByteText(512))
    eligible: Mapped[int] = mapped_column(Integer)
    activated: Mapped[int] = mapped_column(Integer)
    monthly_active: Mapped[int] = mapped_column(Integer)
    active_in_period: Mapped[int] = mapped_column(Integer)
    readers: Mapped[int] = mapped_column(Integer)
    studiers: Mapped[int] = mapped_column(Integer)
    points_total: Mapped[int] = mapped_column(BigInteger)
    reaching_target: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    branches: Mapped[int] = mapped_column(Integer)
    branches_meeting: Mapped[int] = mapped_column(Integer)
    planned: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)
    with_minutes: Mapped[int] = mapped_column(Integer)
    summoned: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    rated_good: Mapped[int] = mapped_column(Integer)
    rated_fair: Mapped[int] = mapped_column(Integer)
    rated_average: Mapped[int] = mapped_column(Integer)
    rated_poor: Mapped[int] = mapped_column(Integer)
    rated_unrated: Mapped[int] = mapped_column(Integer)
    documents_published: Mapped[int] = mapped_column(Integer)
    articles_published: Mapped[int] = mapped_column(Integer)


class StatsBranchRollup(Base):
    """A branch's meeting-quality counts for a period (as of the period's `as_of`, or the
    refresh for a running period), with its lineage on that day (the subtree range scan of
    `GET /orgs/{id}/stats/branches`) and whether it needs attention under the rules recorded in
    `stats_rollup_period.signal_rules`."""

    __tablename__ = "stats_branch_rollup"
    __table_args__ = (
        # A subtree's branches (a ward: a narrow range, then sorted by id).
        Index("ix_stats_branch_rollup_lineage", "period_kind", "period_start", "lineage"),
        # The branches that need attention in id order (a province root: the first page without
        # sorting every branch of the period).
        Index(
            "ix_stats_branch_rollup_attention",
            "period_kind",
            "period_start",
            "needs_attention",
            "org_id",
        ),
    )

    period_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    lineage: Mapped[str] = mapped_column(ByteText(512))
    planned: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)
    agenda_on_time: Mapped[int] = mapped_column(Integer)
    with_documents: Mapped[int] = mapped_column(Integer)
    summoned: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    comments: Mapped[int] = mapped_column(Integer)
    with_votes: Mapped[int] = mapped_column(Integer)
    minutes_on_time: Mapped[int] = mapped_column(Integer)
    minutes_missing: Mapped[int] = mapped_column(Integer)
    tasks_due: Mapped[int] = mapped_column(Integer)
    tasks_done_on_time: Mapped[int] = mapped_column(Integer)
    rated_by_upper: Mapped[int] = mapped_column(Integer)
    rated_lower_above: Mapped[int] = mapped_column(Integer)
    needs_attention: Mapped[bool] = mapped_column(Boolean)
