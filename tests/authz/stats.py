"""Authorization rows: statistics and progress reports (leadership and organisation officers on
the org or above)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ReportStatus, StatsReport
from app.resources import Resources
from tests.authz.harness import Call, Context, Row, org_targets
from tests.authz.study import STATS

branch = org_targets("b1", "b2", "b4")
STATS_CREATE = {role: cells.replace("200", "202") for role, cells in STATS.items()}


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    reports: dict[str, int] = {}
    for target, org in (("own", t.b1), ("near", t.b2), ("far", t.b4)):
        report = StatsReport(
            org_id=org.id,
            created_by_id=t.admin.id,
            period_kind="year",
            period_start=date(2026, 1, 1),
            period_end=date(2026, 12, 31),
            status=ReportStatus.PENDING,
        )
        session.add(report)
        await session.flush()
        reports[target] = report.id
    ctx.extra["stats_reports"] = reports


def _report(ctx: Context, target: str) -> int:
    return int(ctx.extra["stats_reports"][target])


ROWS = {
    "get_org_stats": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/stats?period=month"),
        STATS,
        "org.not_found",
    ),
    "list_org_child_stats": Row(
        lambda c, t: Call(
            "GET", f"/api/v1/orgs/{branch(c, t)}/stats/children?period=year&sort=attendance_rate"
        ),
        STATS,
        "org.not_found",
    ),
    "list_org_branch_signals": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/stats/branches?attention=true"),
        STATS,
        "org.not_found",
    ),
    "create_stats_report": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{branch(c, t)}/stats/reports", {"period": "year"}),
        STATS_CREATE,
        "org.not_found",
    ),
    "get_stats_report": Row(
        lambda c, t: Call("GET", f"/api/v1/stats/reports/{_report(c, t)}"),
        STATS,
        "stats_report.not_found",
    ),
}
