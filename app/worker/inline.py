"""Running one job in this process (the CLI's `handbook import`, benchmarks): lease it, run its
handler until it is done (a `Later` runs it again at once), and mark it as a worker would."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.core.clock import SystemClock
from app.models import Job, JobStatus
from app.models.job import WAITING
from app.resources import Resources
from app.worker import queue
from app.worker.queue import ClaimedJob
from app.worker.registry import JobContext, Later, default_registry

LEASE_S = 6 * 3600.0


async def run_job(resources: Resources, job_id: int, *, owner: str = "inline") -> None:
    """Run job `job_id` to its end here; it must be waiting (not leased by a worker)."""
    clock = SystemClock()
    registry = default_registry()
    while True:
        now = clock.now()
        async with resources.db.write.begin() as session:
            row = (
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status.in_([str(s) for s in WAITING]))
                    .values(
                        status=JobStatus.RUNNING,
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=LEASE_S),
                        attempts=Job.attempts + 1,
                        updated_at=now,
                    )
                    .returning(
                        Job.id,
                        Job.kind,
                        Job.payload,
                        Job.attempts,
                        Job.max_attempts,
                        Job.expires_at,
                        Job.progress,
                    )
                )
            ).one_or_none()
        if row is None:
            raise LookupError(f"job {job_id} is not waiting to run")
        job = ClaimedJob(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            expires_at=row.expires_at,
            progress=row.progress,
        )
        handler = registry.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for {job.kind!r}")
        ctx = JobContext(job=job, resources=resources, clock=clock, owner=owner)
        try:
            outcome = await handler(ctx)
        except BaseException as exc:
            async with resources.db.write.begin() as session:
                await queue.retry_later(
                    session,
                    job.id,
                    owner,
                    run_after=clock.now(),
                    now=clock.now(),
                    error=f"{type(exc).__name__}: {exc}",
                )
            raise
        async with resources.db.write.begin() as session:
            if isinstance(outcome, Later):
                await queue.retry_later(
                    session,
                    job.id,
                    owner,
                    run_after=outcome.at,
                    now=clock.now(),
                    error=None,
                    count_attempt=False,
                    progress=outcome.progress,
                )
                continue
            await queue.finish(session, job.id, owner, status=JobStatus.DONE, now=clock.now())
        return
