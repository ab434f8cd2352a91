"""The worker loop: claim due jobs, run them, keep a heartbeat, stop cleanly.

- Up to `WORKER__CONCURRENCY` jobs run at once in one process; more processes (or machines) add
  capacity: they share the job table through the database, never through each other.
- Every `WORKER__HEARTBEAT_INTERVAL_S` the worker writes its heartbeat row and renews the leases
  of the jobs it runs. A worker that dies stops renewing; once `WORKER__LEASE_S` has passed its
  jobs are due again for any worker.
- SIGTERM (`stop`): no new claims; running jobs get `WORKER__SHUTDOWN_GRACE_S` to finish, then
  are cancelled and handed back (QUEUED, the attempt uncounted) for another worker.
- The database going away is survived: claims and state writes are retried with backoff, and a
  job whose outcome could not be written is run again once its lease expires (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.clock import Clock, SystemClock
from app.models import JobStatus, WorkerHeartbeat
from app.resources import Resources
from app.services import jobs as job_service
from app.services import monitoring
from app.worker import queue
from app.worker.queue import ClaimedJob
from app.worker.registry import JobContext, Later, PermanentError, Registry, default_registry

log = logging.getLogger("app.worker")

# Errors that mean "the database is not there right now", worth waiting out.
DB_DOWN = (OperationalError, DBAPIError, OSError, ConnectionError, asyncio.TimeoutError)
STATE_WRITE_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        resources: Resources,
        *,
        clock: Clock | None = None,
        registry: Registry | None = None,
        worker_id: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.resources = resources
        self.settings = resources.settings.worker
        self.clock = clock or SystemClock()
        self.registry = registry or default_registry()
        self.id = worker_id or new_worker_id()
        self.concurrency = concurrency or self.settings.concurrency
        self.started_at = self.clock.now()
        self.jobs_done = 0
        self.jobs_failed = 0
        self.live_workers = 1
        self._running: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.state_write_delays: tuple[float, ...] = STATE_WRITE_DELAYS_S

    # --- one step (tests drive the worker with these and a ManualClock) ------------------------

    async def run_once(self, limit: int | None = None) -> int:
        """Claim the jobs due now and run them to the end; how many ran."""
        claimed = await self._claim(limit or self.concurrency)
        await asyncio.gather(*(self._run_job(job) for job in claimed))
        return len(claimed)

    async def run_until_idle(self, *, max_rounds: int = 1000) -> int:
        """Run due jobs (and the jobs they enqueue that are due) until none is left."""
        total = 0
        for _ in range(max_rounds):
            ran = await self.run_once()
            if not ran:
                return total
            total += ran
        raise RuntimeError("jobs kept coming: not idle after max_rounds")

    # --- the loop --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"worker": self.id, "concurrency": self.concurrency})
        await self._with_db_retry(self._ensure_recurring)
        await self._write_heartbeat()
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="worker-heartbeat")
        failures = 0
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                claimed: list[ClaimedJob] = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                        failures = 0
                    except DB_DOWN as exc:
                        failures += 1
                        delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                        log.warning(
                            "claiming jobs failed; retrying",
                            extra={"error": type(exc).__name__, "retry_in_s": delay},
                        )
                        await _wait_any(stop, None, delay)
                        continue
                for job in claimed:
                    task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
                    self._running[job.id] = task
                    task.add_done_callback(self._on_task_done(job.id))
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)  # more may be due: claim again at once
                    continue
                self._wake.clear()
                await _wait_any(stop, self._wake, self.settings.poll_interval_s)
        finally:
            await self._shutdown()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._write_heartbeat(stopped=True)
            log.info("worker stopped", extra={"worker": self.id})

    def _on_task_done(self, job_id: int) -> Any:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(job_id, None)
            self._wake.set()

        return done

    async def _shutdown(self) -> None:
        self._stopping.set()
        if not self._running:
            return
        tasks = list(self._running.values())
        _done, pending = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_s)
        if not pending:
            return
        ids = [job_id for job_id, task in self._running.items() if task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        released = await self._with_db_retry(lambda s: self._release(s, ids))
        log.info("released unfinished jobs", extra={"jobs": ids, "released": released})

    async def _release(self, session: AsyncSession, ids: list[int]) -> int:
        return await queue.release(session, ids, self.id, now=self.clock.now())

    # --- claiming and running ----------------------------------------------------------------

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        async with self.resources.db.write.begin() as session:
            return await queue.claim(
                session, self.id, now=self.clock.now(), limit=limit, lease_s=self.settings.lease_s
            )

    async def _run_job(self, job: ClaimedJob) -> None:
        now = self.clock.now()
        if job.expires_at is not None and job.expires_at <= now:
            await self._finish(job, JobStatus.EXPIRED, "expired before it could run")
            return
        handler = self.registry.get(job.kind)
        if handler is None:
            await self._finish(job, JobStatus.DEAD, f"no handler for job kind {job.kind!r}")
            return
        context = JobContext(
            job=job,
            resources=self.resources,
            clock=self.clock,
            owner=self.id,
            stopping=self._stopping,
        )
        started = time.perf_counter()
        try:
            outcome = await handler(context)
        except asyncio.CancelledError:
            raise
        except PermanentError as exc:
            log.error("job failed for good", extra={"job": job.id, "kind": job.kind})
            await self._finish(job, JobStatus.DEAD, f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if job.attempts >= job.max_attempts:
                log.error(
                    "job dead after its last attempt",
                    extra={"job": job.id, "kind": job.kind, "attempts": job.attempts},
                )
                await self._finish(job, JobStatus.DEAD, error)
                return
            delay = queue.backoff_s(
                job.attempts, base_s=self.settings.backoff_base_s, max_s=self.settings.backoff_max_s
            )
            log.warning(
                "job failed; will retry",
                extra={
                    "job": job.id,
                    "kind": job.kind,
                    "attempt": job.attempts,
                    "error": type(exc).__name__,
                    "retry_in_s": round(delay, 1),
                },
            )
            self.jobs_failed += 1
            metrics.JOBS_FINISHED.labels(job.kind, "failed").inc()
            await self._state_write(
                job,
                lambda s: queue.retry_later(
                    s,
                    job.id,
                    self.id,
                    run_after=self.clock.now() + timedelta(seconds=delay),
                    now=self.clock.now(),
                    error=error,
                ),
            )
            return
        if isinstance(outcome, Later):
            metrics.JOBS_FINISHED.labels(job.kind, "later").inc()
            await self._state_write(
                job,
                lambda s: queue.retry_later(
                    s,
                    job.id,
                    self.id,
                    run_after=outcome.at,
                    now=self.clock.now(),
                    error=None,
                    count_attempt=False,
                    progress=outcome.progress,
                ),
            )
            return
        log.debug(
            "job done",
            extra={
                "job": job.id,
                "kind": job.kind,
                "ms": round(1000 * (time.perf_counter() - started)),
            },
        )
        await self._finish(job, JobStatus.DONE, None)

    async def _finish(self, job: ClaimedJob, status: JobStatus, error: str | None) -> None:
        if status is JobStatus.DONE:
            self.jobs_done += 1
        elif status is JobStatus.DEAD:
            self.jobs_failed += 1
        metrics.JOBS_FINISHED.labels(job.kind, str(status)).inc()
        await self._state_write(
            job,
            lambda s: queue.finish(
                s, job.id, self.id, status=status, now=self.clock.now(), error=error
            ),
        )

    async def _state_write(self, job: ClaimedJob, write: Any) -> None:
        """Record a job's outcome; retried while the database is away. If it never comes back
        in time the lease expires and the job runs again (at-least-once)."""
        try:
            kept = await self._with_db_retry(write)
        except DB_DOWN as exc:
            log.error(
                "could not record a job's outcome; it will run again after its lease",
                extra={"job": job.id, "error": type(exc).__name__},
            )
            return
        if not kept:
            log.warning(
                "job lease lost (moved, cancelled or taken over): outcome not recorded",
                extra={"job": job.id, "kind": job.kind},
            )

    async def _with_db_retry(self, write: Any) -> Any:
        for delay in (*self.state_write_delays, None):
            try:
                async with self.resources.db.write.begin() as session:
                    return await write(session)
            except DB_DOWN:
                if delay is None or (self._stopping.is_set() and delay > 1):
                    raise
                await asyncio.sleep(delay)
        return None  # pragma: no cover - the loop returns or raises

    async def _ensure_recurring(self, session: AsyncSession) -> None:
        for recurring in self.registry.recurring:
            await job_service.enqueue(
                session, recurring.kind, {}, dedupe_key=recurring.key, now=self.clock.now()
            )

    # --- heartbeat ---------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            await self._write_heartbeat()

    async def heartbeat(self) -> None:
        """Write the heartbeat row and renew this worker's leases (the loop calls it)."""
        await self._write_heartbeat()

    async def _write_heartbeat(self, *, stopped: bool = False) -> None:
        now = self.clock.now()
        try:
            async with self.resources.db.write.begin() as session:
                row = await session.get(WorkerHeartbeat, self.id)
                if row is None:
                    row = WorkerHeartbeat(
                        id=self.id,
                        hostname=socket.gethostname()[:255],
                        pid=os.getpid(),
                        started_at=self.started_at,
                        seen_at=now,
                    )
                    session.add(row)
                row.seen_at = now
                row.jobs_done = self.jobs_done
                row.jobs_failed = self.jobs_failed
                if stopped:
                    row.stopped_at = now
                    return
                held = await queue.renew(
                    session, list(self._running), self.id, now=now, lease_s=self.settings.lease_s
                )
                lost = set(self._running) - held
                if lost:
                    log.warning("leases lost", extra={"jobs": sorted(lost)})
                fresh = now - timedelta(seconds=self.settings.heartbeat_stale_s)
                self.live_workers = max(
                    1,
                    int(
                        await session.scalar(
                            select(func.count()).where(
                                WorkerHeartbeat.seen_at > fresh,
                                WorkerHeartbeat.stopped_at.is_(None),
                            )
                        )
                        or 1
                    ),
                )
                self.resources.push.share = 1 / self.live_workers
                await monitoring.refresh_gauges(session, self.resources.settings, now)
        except DB_DOWN as exc:
            log.warning("heartbeat failed", extra={"error": type(exc).__name__})


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
