"""Statistics in the worker.

- `stats.report`: the progress report (.xlsx) of an org's subtree: figures from
  `services/stats.py`, the workbook written in a thread, the file put in storage for the
  download link.
- `stats.rollup` (recurring, every `WORKER__STATS_ROLLUP_EVERY_S`): the rollup the statistics
  API sums (`services/stats_rollup.py`), one transaction per period.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
import anyio.to_thread
from sqlalchemy import update

from app.core.errors import NotFound
from app.models import ReportStatus, StatsReport
from app.services import history, stats_report, stats_rollup
from app.services import rules as rule_service
from app.worker.registry import JobContext, Later, PermanentError, registry

log = logging.getLogger(__name__)


@registry.handler(stats_report.REPORT_JOB)
async def build_report(ctx: JobContext) -> Later | None:
    report_id = int(ctx.payload["report_id"])
    settings = ctx.resources.settings
    today = history.local_today(settings.rules.timezone, ctx.now())
    async with ctx.db.write.begin() as session:
        report = await session.get(StatsReport, report_id)
        if report is None:
            raise PermanentError(f"report {report_id} does not exist")
        if report.status != ReportStatus.PENDING:
            return None
        rules = await rule_service.current(session, ctx.resources.app_config, settings.rules)
        try:
            org_name, period, total, levels = await stats_report.build(
                session,
                report,
                settings.rules,
                yearly_target=rules.study_points_target,
                targets=rule_service.stats_targets(rules),
                today=today,
            )
            attention = await stats_report.attention(session, report, period, settings.rules)
        except NotFound:
            report.status = ReportStatus.FAILED
            report.error_detail = "Tổ chức không còn tồn tại vào cuối kỳ thống kê."
            report.finished_at = ctx.now()
            return None
    directory = settings.upload_tmp_dir
    await anyio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    path = await anyio.to_thread.run_sync(stats_report.temp_path, directory)
    try:
        await anyio.to_thread.run_sync(
            lambda: stats_report.write_workbook(
                path,
                org_name=org_name,
                period=period,
                total=total,
                levels=levels,
                targets=rule_service.stats_targets(rules),
                attention=attention,
            )
        )
        key = f"reports/{report_id}/report.xlsx"
        await ctx.resources.storage.put_file(
            key, path, content_type=stats_report.XLSX_TYPE, move=True
        )
    finally:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
    async with ctx.db.write.begin() as session:
        await session.execute(
            update(StatsReport)
            .where(StatsReport.id == report_id)
            .values(status=ReportStatus.DONE, storage_key=key, finished_at=ctx.now())
        )
    log.info("stats report built", extra={"report": report_id, "levels": len(levels)})
    return None


ROLLUP_JOB = "stats.rollup"


@registry.handler(ROLLUP_JOB, recurring=True)
async def refresh_rollup(ctx: JobContext) -> Later:
    """Refresh the periods that are due (the running month every run); see stats_rollup."""
    now = ctx.now()
    settings = ctx.resources.settings
    done = await stats_rollup.run(
        ctx.db,
        settings.rules,
        settings.worker,
        now=now,
        cache=ctx.resources.app_config,
        stopping=ctx.stopping,
        clock=ctx.now,
    )
    log.info("stats rollup refreshed", extra={"periods": done})
    return Later(
        now + timedelta(seconds=settings.worker.stats_rollup_every_s),
        progress={"last_run": now.isoformat(), "periods": done},
    )
