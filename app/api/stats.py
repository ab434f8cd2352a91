"""Statistics of an org's subtree for a period, and its per-child breakdown (leadership and
organisation officers on the org or above). Definitions: docs/statistics.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, status

from app.api.deps import (
    CurrentActor,
    ObjectScope,
    OrgScope,
    ReaderDep,
    ResourcesDep,
    SessionDep,
    TodayDep,
)
from app.api.idempotency import Idempotent
from app.api.responses import problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import IsoDateText, QueryFlag
from app.schemas.stats import (
    BranchSignalsPage,
    ChildStatsList,
    OrgStats,
    PeriodKind,
    ReportCreate,
    ReportRead,
    StatsSort,
)
from app.services import rules as rule_service
from app.services import stats as stats_service
from app.services import stats_report
from app.services.access import Permission
from app.services.orgs import OrgTarget

router = area_router(tags=["stats"])

ReportScope = ObjectScope(
    stats_report.load_target,
    Permission.STATS_VIEW,
    id_param="report_id",
    not_found_code="stats_report.not_found",
    description="Report id.",
)
StatsOrg = Annotated[OrgTarget, Depends(OrgScope(Permission.STATS_VIEW))]
PeriodParam = Annotated[
    PeriodKind,
    Query(
        alias="period",
        description="month, quarter, year (the one containing `from`, today by default) or "
        "custom (`from` to `to`, inclusive, at most 400 days).",
    ),
]
FromParam = Annotated[
    date | None,
    Query(
        alias="from",
        ge=date(2000, 1, 1),
        le=date(2100, 1, 1),
        description="A day of the period (YYYY-MM-DD, local calendar); custom: its first day.",
        examples=["2026-03-01"],
    ),
    IsoDateText,
]
ToParam = Annotated[
    date | None,
    Query(
        alias="to",
        ge=date(2000, 1, 1),
        le=date(2100, 1, 1),
        description="custom only: the period's last day (inclusive).",
        examples=["2026-03-31"],
    ),
    IsoDateText,
]

_DEFINITIONS = (
    " Figures use the tree and memberships as they stood on `period.as_of` (history): later "
    "transfers, moves and merges never change a past period. Month, quarter and year figures "
    "are summed from the rollup the worker refreshes (the running month every few minutes); "
    "`as_of` says when they were counted and `source` whether from the rollup or live (custom "
    "periods, or a period not rolled up yet). Each figure's definition is its field's "
    "description (docs/statistics.md)."
)


@router.get(
    "/orgs/{org_id}/stats",
    response_model=OrgStats,
    responses=problems(
        401, 403, codes={404: ["stats.org_not_in_period"], 422: ["stats.bad_period"]}
    ),
    description="The statistics of the org's subtree for a period: eligible members, accounts "
    "activated, monthly active members, meetings planned / held in the app / with minutes, "
    "attendance, ratings, content published, read and studied rates, study points, surveys "
    "answered, and the deployment's targets." + _DEFINITIONS,
)
async def get_org_stats(
    org: StatsOrg,
    session: SessionDep,
    reader: ReaderDep,
    resources: ResourcesDep,
    today: TodayDep,
    period: PeriodParam = PeriodKind.MONTH,
    start: FromParam = None,
    end: ToParam = None,
) -> dict[str, Any]:
    resolved = stats_service.resolve_period(period, start, end, today=today)
    rules = await rule_service.in_force(reader, resources.app_config, resources.settings.rules)
    lean = await stats_service.org_stats_lean(
        reader,
        org.id,
        resolved,
        yearly_target=rules.study_points_target,
        targets=rule_service.stats_targets(rules),
    )
    if lean is not None:
        return lean
    return await stats_service.org_stats(
        session,
        org.id,
        resolved,
        resources.settings.rules,
        yearly_target=rules.study_points_target,
        targets=rule_service.stats_targets(rules),
    )


@router.get(
    "/orgs/{org_id}/stats/children",
    response_model=ChildStatsList,
    responses=problems(
        401, 403, codes={404: ["stats.org_not_in_period"], 422: ["stats.bad_period"]}
    ),
    description="The same figures per child unit of the org (as the tree stood on "
    "`period.as_of`), each with the deployment's targets marked met or not; ordered by "
    "`sort`." + _DEFINITIONS,
)
async def list_org_child_stats(
    org: StatsOrg,
    session: SessionDep,
    reader: ReaderDep,
    resources: ResourcesDep,
    today: TodayDep,
    period: PeriodParam = PeriodKind.MONTH,
    start: FromParam = None,
    end: ToParam = None,
    sort: Annotated[
        StatsSort, Query(description="The figure to order by; rows without a value go last.")
    ] = StatsSort.NAME,
    order: Annotated[
        str, Query(pattern="^(asc|desc)$", description="asc (default) or desc.")
    ] = "asc",
) -> dict[str, Any]:
    resolved = stats_service.resolve_period(period, start, end, today=today)
    rules = await rule_service.in_force(reader, resources.app_config, resources.settings.rules)
    return await stats_service.child_stats(
        session,
        org.id,
        resolved,
        resources.settings.rules,
        yearly_target=rules.study_points_target,
        targets=rule_service.stats_targets(rules),
        sort=sort,
        descending=order == "desc",
    )


@router.get(
    "/orgs/{org_id}/stats/branches",
    response_model=BranchSignalsPage,
    responses=problems(
        400, 401, 403, codes={404: ["stats.org_not_in_period"], 422: ["stats.bad_period"]}
    ),
    description="Meeting-quality signals of every branch of the subtree (as the tree stood on "
    "`period.as_of`), by branch id: agenda posted in time, documents attached, attendance, "
    "comments per member present, votes held, minutes in time, tasks done on time, the upper "
    "level's rating against the branch's own. `attention=true` lists only the branches that "
    "need attention, each with its reasons. Month, quarter and year signals are read from "
    "the rollup the worker refreshes with the figures (one range read, whatever the subtree's "
    "size), `as_of` and `source` as for the figures; custom periods, a period not rolled up "
    "yet, or one counted with other `RULES__STATS_*` / `RULES__MINUTES_DUE_H` values are "
    "counted live." + _DEFINITIONS,
)
async def list_org_branch_signals(
    org: StatsOrg,
    session: SessionDep,
    reader: ReaderDep,
    resources: ResourcesDep,
    today: TodayDep,
    period: PeriodParam = PeriodKind.MONTH,
    start: FromParam = None,
    end: ToParam = None,
    attention: Annotated[
        bool, Query(description="Only the branches that need attention."), QueryFlag
    ] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    resolved = stats_service.resolve_period(period, start, end, today=today)
    lean = await stats_service.branch_signals_lean(
        reader,
        org.id,
        resolved,
        resources.settings.rules,
        attention_only=attention,
        limit=limit,
        cursor=cursor,
    )
    if lean is not None:
        return lean
    return await stats_service.branch_signals(
        session,
        org.id,
        resolved,
        resources.settings.rules,
        attention_only=attention,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/orgs/{org_id}/stats/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportRead,
    responses=problems(401, 403, 404, 409, codes={422: ["stats.bad_period"]}),
)
async def create_stats_report(
    body: ReportCreate,
    org: StatsOrg,
    actor: CurrentActor,
    session: SessionDep,
    today: TodayDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Ask for the progress report (.xlsx: a summary sheet, one sheet per level below the org
    with a totals row and the targets; Vietnamese headers) of the org's subtree for a period.
    The worker builds it: poll the report for its download link. Send an `Idempotency-Key` to
    retry safely."""
    return await stats_report.create_report(session, actor, org, body, today=today)


@router.get(
    "/stats/reports/{report_id}",
    response_model=ReportRead,
    responses=problems(401, 403, 404, 422),
)
async def get_stats_report(
    report: Annotated[stats_report.ReportTarget, Depends(ReportScope)],
    session: SessionDep,
    resources: ResourcesDep,
    today: TodayDep,
) -> dict[str, Any]:
    """A progress report's status, and once done a short-lived download link."""
    return await stats_report.read_report(
        session, resources.storage, resources.settings, report.id, today=today
    )
