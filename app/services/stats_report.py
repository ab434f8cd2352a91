"""The periodic progress report (.xlsx) of an org's subtree: asked for through the API, built by
the worker (`REPORT_JOB`) from the same figures as `GET /orgs/{id}/stats` (`services/stats.py`),
downloaded through a short-lived link like the roster exports.

The workbook: a summary sheet (the org's own figures against the deployment's targets), one
sheet per level below it (the units at that depth, as the tree stood on `as_of`), each with a
totals row (the org's figures: rates are never summed) and a targets row, and the branches that
need attention with their meeting-quality signals and reasons (the API's branch signals).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import RulesSettings, Settings
from app.core.db import FastQuery, Reader
from app.core.errors import NotFound
from app.integrations.storage import Storage
from app.models import Org, ReportStatus, StatsReport
from app.models.base import utcnow
from app.schemas.stats import PeriodKind, ReportCreate
from app.services import audit, history, jobs, spreadsheets, stats
from app.services import rules as rule_service
from app.services.access import Actor
from app.services.imports.runs import link
from app.services.orgs import OrgTarget

REPORT_JOB: Final = "stats.report"
XLSX_TYPE: Final = spreadsheets.XLSX_TYPE

_r = StatsReport.__table__
_org = Org.__table__


@dataclass(frozen=True, slots=True)
class ReportTarget:
    id: int
    org_id: int
    path: str

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_r.c.id, _r.c.org_id, _org.c.path)
    .join(_org, _org.c.id == _r.c.org_id)
    .where(_r.c.id == bindparam("report_id", type_=BigInteger))
)


async def load_target(reader: Reader, report_id: int) -> ReportTarget | None:
    rows = await reader.fetch(_TARGET, {"report_id": report_id})
    return ReportTarget(rows[0]["id"], rows[0]["org_id"], rows[0]["path"]) if rows else None


def _read(report: StatsReport, today: date, download: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": report.id,
        "org_id": report.org_id,
        "period": {
            "kind": report.period_kind,
            "start": report.period_start,
            "end": report.period_end,
            "as_of": min(report.period_end, today),
        },
        "status": report.status,
        "created_at": report.created_at,
        "finished_at": report.finished_at,
        "download": download,
        "error_detail": report.error_detail,
    }


async def create_report(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: ReportCreate, *, today: date
) -> dict[str, Any]:
    period = stats.resolve_period(body.period, body.from_, body.to, today=today)
    # The org must have existed at the period's end (as the API's figures require).
    if await history.org_lineage_on(session, org.id, period.as_of) is None:
        raise NotFound(
            "Tổ chức chưa tồn tại (hoặc đã sáp nhập) vào cuối kỳ thống kê.",
            code="stats.org_not_in_period",
        )
    now = utcnow()
    report = StatsReport(
        org_id=org.id,
        created_by_id=actor.member_id,
        period_kind=period.kind,
        period_start=period.start,
        period_end=period.end,
        status=ReportStatus.PENDING,
        created_at=now,
    )
    session.add(report)
    await session.flush()
    await jobs.enqueue(session, REPORT_JOB, {"report_id": report.id}, max_attempts=3, now=now)
    await audit.record(
        session,
        actor,
        "stats_report.create",
        target=("stats_report", report.id),
        org_id=org.id,
        detail={"period": period.kind, "start": period.start.isoformat()},
    )
    return _read(report, today, None)


async def read_report(
    session: AsyncSession, storage: Storage, settings: Settings, report_id: int, *, today: date
) -> dict[str, Any]:
    report = await session.get(StatsReport, report_id, populate_existing=True)
    if report is None:
        raise NotFound(code="stats_report.not_found")
    download = None
    if report.status == ReportStatus.DONE and report.storage_key:
        name = f"Báo cáo tiến độ {report.period_start:%d-%m-%Y} đến {report.period_end:%d-%m-%Y}"
        download = await link(storage, settings, report.storage_key, f"{name}.xlsx")
    return _read(report, today, download)


# --- the workbook -------------------------------------------------------------------------------

# (header, section, figure): the columns of every level sheet after the unit's name and kind.
COLUMNS: Final = (
    ("Đảng viên đủ điều kiện", "members", "eligible"),
    ("Đã kích hoạt tài khoản", "members", "activated"),
    ("Tỷ lệ kích hoạt", "members", "activation_rate"),
    ("Hoạt động trong tháng", "members", "monthly_active"),
    ("Tỷ lệ hoạt động tháng", "members", "monthly_active_rate"),
    ("Số chi bộ", "meetings", "branches"),
    ("Chi bộ sinh hoạt trên ứng dụng", "meetings", "branches_meeting"),
    ("Tỷ lệ chi bộ sinh hoạt", "meetings", "branches_meeting_rate"),
    ("Cuộc họp dự kiến", "meetings", "planned"),
    ("Cuộc họp đã tổ chức", "meetings", "held"),
    ("Có biên bản", "meetings", "with_minutes"),
    ("Tỷ lệ dự họp", "meetings", "attendance_rate"),
    ("Văn bản ban hành", "content", "documents_published"),
    ("Tin bài đăng", "content", "articles_published"),
    ("Tỷ lệ đọc văn bản", "content", "read_rate"),
    ("Tỷ lệ học tập văn bản", "content", "studied_rate"),
    ("Điểm học tập bình quân", "study", "points_average"),
    ("Tỷ lệ đạt chỉ tiêu điểm", "study", "target_share"),
    ("Khảo sát đã trả lời", "surveys", "answered"),
)
TARGET_NAMES: Final = {
    "activation_rate": "Tỷ lệ kích hoạt",
    "monthly_active_rate": "Tỷ lệ hoạt động tháng",
    "branches_meeting_rate": "Tỷ lệ chi bộ sinh hoạt",
    "target_share": "Tỷ lệ đạt chỉ tiêu điểm",
}
UNMET_HEADER: Final = "Chỉ tiêu chưa đạt"
TOTAL_LABEL: Final = "Toàn đảng bộ (tổng)"
TARGET_LABEL: Final = "Chỉ tiêu"
# (header, signal): the columns of the sheet of the branches that need attention, the API's
# branch signals (`stats.signals_shown`, the same definitions).
SIGNAL_COLUMNS: Final = (
    ("Cuộc họp dự kiến", "planned"),
    ("Cuộc họp đã tổ chức", "held"),
    ("Thông báo nội dung đúng hạn", "agenda_on_time"),
    ("Có tài liệu kèm theo", "with_documents"),
    ("Tỷ lệ dự họp", "attendance_rate"),
    ("Ý kiến trên mỗi đảng viên dự họp", "comments_per_member"),
    ("Có biểu quyết", "with_votes"),
    ("Biên bản đúng hạn", "minutes_on_time"),
    ("Nhiệm vụ đến hạn", "tasks_due"),
    ("Nhiệm vụ hoàn thành đúng hạn", "tasks_done_on_time"),
    ("Cấp trên đã xếp loại", "rated_by_upper"),
    ("Cấp trên xếp loại thấp hơn", "rated_lower_above"),
)
REASON_NAMES: Final = {
    "no_meeting": "Không sinh hoạt trên ứng dụng",
    "low_attendance": "Tỷ lệ dự họp thấp",
    "minutes_missing": "Thiếu biên bản",
    "rated_lower_above": "Cấp trên xếp loại thấp hơn",
}
ATTENTION_SHEET: Final = "Chi bộ cần chú ý"
REASONS_HEADER: Final = "Lý do cần chú ý"
_ATTENTION_PAGE = 1000
KIND_NAMES: Final = {
    "province_committee": "Tỉnh ủy / Thành ủy",
    "commune_committee": "Đảng ủy xã, phường",
    "grassroots_committee": "Đảng bộ cơ sở",
    "branch": "Chi bộ",
}


def _unmet(figures: dict[str, Any]) -> str:
    return ", ".join(TARGET_NAMES[t["metric"]] for t in figures["targets"] if t["met"] is False)


def _row(name: str, kind: str, figures: dict[str, Any]) -> list[Any]:
    return [
        spreadsheets.safe(name),
        kind,
        *(figures[section][figure] for _, section, figure in COLUMNS),
        _unmet(figures),
    ]


@dataclass
class Level:
    depth: int
    rows: list[tuple[str, str, dict[str, Any]]]


def write_workbook(
    path: Path,
    *,
    org_name: str,
    period: stats.Period,
    total: dict[str, Any],
    levels: list[Level],
    targets: rule_service.StatsTargets,
    attention: list[dict[str, Any]] | None = None,
) -> None:
    book = Workbook(write_only=True)
    span = (
        f"Kỳ: {period.start:%d/%m/%Y} – {period.end:%d/%m/%Y} (số liệu đến {period.as_of:%d/%m/%Y})"
    )

    bold = spreadsheets.header
    summary = book.create_sheet("Tổng hợp")
    bold(summary, [f"Báo cáo tiến độ: {spreadsheets.safe(org_name)}"])
    summary.append([span])
    bold(summary, ["Chỉ số", "Giá trị", TARGET_LABEL, "Đạt"])
    goals = dict(targets.items())
    for header, section, figure in COLUMNS:
        goal = goals.get(figure)
        value = total[section][figure]
        met = None if goal is None or value is None else ("Đạt" if value >= goal else "Chưa đạt")
        summary.append([header, value, goal, met])
    for level in levels:
        sheet = book.create_sheet(f"Cấp {level.depth}")
        bold(sheet, [f"Các đơn vị cấp {level.depth} trực thuộc {org_name}"])
        sheet.append([span])
        bold(sheet, ["Đơn vị", "Loại", *(h for h, _, _ in COLUMNS), UNMET_HEADER])
        for name, kind, figures in level.rows:
            sheet.append(_row(name, KIND_NAMES.get(kind, kind), figures))
        bold(sheet, _row(TOTAL_LABEL, "", total))
        sheet.append([TARGET_LABEL, "", *(goals.get(figure) for _, _, figure in COLUMNS), ""])
    sheet = book.create_sheet(ATTENTION_SHEET)
    bold(sheet, [f"Chi bộ cần chú ý trực thuộc {spreadsheets.safe(org_name)}"])
    sheet.append([span])
    bold(sheet, ["Chi bộ", *(h for h, _ in SIGNAL_COLUMNS), REASONS_HEADER])
    for signals in attention or []:
        sheet.append(
            [
                spreadsheets.safe(signals["org_name"]),
                *(signals[name] for _, name in SIGNAL_COLUMNS),
                ", ".join(REASON_NAMES[str(r)] for r in signals["reasons"]),
            ]
        )
    book.save(path)


async def build(
    session: AsyncSession,
    report: StatsReport,
    rules: RulesSettings,
    *,
    yearly_target: int,
    targets: rule_service.StatsTargets,
    today: date,
) -> tuple[str, stats.Period, dict[str, Any], list[Level]]:
    """The figures of the report: the org's and each level's below it."""
    period = stats.Period(
        PeriodKind(report.period_kind),
        report.period_start,
        report.period_end,
        min(report.period_end, today),
        is_current=report.period_end >= today,
    )
    lineage = await history.org_lineage_on(session, report.org_id, period.as_of)
    if lineage is None:
        raise NotFound(code="stats.org_not_in_period")
    org_name = await session.scalar(select(_org.c.name).where(_org.c.id == report.org_id))
    # The figures the API shows: from the rollup for a month, quarter or year (one row per org,
    # so a province's report is quick), live otherwise; the same figures either way.
    served, _ = await stats.figures_served(
        session,
        [(report.org_id, lineage)],
        period,
        rules,
        yearly_target=yearly_target,
        targets=targets,
    )
    total = served[report.org_id]
    below = await stats.subtree_on(session, lineage, period.as_of)
    base = lineage.count("/")
    by_depth: dict[int, list[tuple[int, str]]] = {}
    for org_id, org_lineage in below:
        by_depth.setdefault(org_lineage.count("/") - base, []).append((org_id, org_lineage))
    info = await stats.org_info(session, [org_id for org_id, _ in below])
    levels = []
    for depth in sorted(by_depth):
        groups = by_depth[depth]
        figures, _ = await stats.figures_served(
            session, groups, period, rules, yearly_target=yearly_target, targets=targets
        )
        rows = sorted(
            ((info[key][0], info[key][1], figures[key]) for key, _ in groups),
            key=lambda r: r[0],
        )
        levels.append(Level(depth, rows))
    return str(org_name), period, total, levels


async def attention(
    session: AsyncSession, report: StatsReport, period: stats.Period, rules: RulesSettings
) -> list[dict[str, Any]]:
    """The branches of the subtree that need attention, with their signals: what
    `GET /orgs/{id}/stats/branches?attention=true` lists (from the rollup where it can answer)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await stats.branch_signals(
            session,
            report.org_id,
            period,
            rules,
            attention_only=True,
            limit=_ATTENTION_PAGE,
            cursor=cursor,
        )
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def temp_path(directory: Path) -> Path:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed at once, kept for the writer
        dir=directory, prefix="report-", suffix=".xlsx", delete=False
    )
    handle.close()
    return Path(handle.name)
