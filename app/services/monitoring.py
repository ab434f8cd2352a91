"""Gauges read from the database: the job queue, live workers and the SMS budget.

Refreshed by the worker with its heartbeat and by the API when /metrics is scraped, so any
process shows the deployment's queue, not just its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.config import Settings
from app.models import JobStatus, WorkerHeartbeat
from app.services import jobs as job_service
from app.services import sms_budget
from app.services.sms_budget import SmsPurpose

_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DEAD)


async def refresh_gauges(session: AsyncSession, settings: Settings, now: datetime) -> None:
    counts, oldest_age = await job_service.queue_counts(session, now)
    for status in _STATUSES:
        metrics.JOBS.labels(str(status)).set(counts.get(str(status), 0))
    metrics.JOB_OLDEST_DUE_AGE.set(oldest_age)
    fresh = now - timedelta(seconds=settings.worker.heartbeat_stale_s)
    alive = await session.scalar(
        select(func.count()).where(
            WorkerHeartbeat.seen_at > fresh, WorkerHeartbeat.stopped_at.is_(None)
        )
    )
    metrics.WORKERS_ALIVE.set(int(alive or 0))
    day = sms_budget.local_day(now, settings.rules.timezone)
    for purpose in SmsPurpose:
        spent = await sms_budget.used(session, purpose, day)
        limit = sms_budget.limit_for(settings.sms, purpose)
        metrics.SMS_BUDGET_USED.labels(str(purpose)).set(spent)
        metrics.SMS_BUDGET_LIMIT.labels(str(purpose)).set(limit or 0)
        if purpose is SmsPurpose.NOTICE:
            metrics.SMS_NOTICE_FUSE.set(1 if limit is not None and spent >= limit else 0)
