"""Job rows as the worker sees them: claim, finish, retry, release, renew.

Claiming takes due jobs in `run_after` order with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
number of workers share the table and none takes a job another holds; on SQLite the one writer
at a time (BEGIN IMMEDIATE) gives the same guarantee. Every state change after the claim is
conditional on still holding the lease: a worker whose lease ran out (it stalled, and another
took the job over) changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Job, JobStatus
from app.services.jobs import due_clause

MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    expires_at: datetime | None
    progress: dict[str, Any] | None


async def claim(
    session: AsyncSession, owner: str, *, now: datetime, limit: int, lease_s: float
) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs to `owner`."""
    due = select(Job.id).where(due_clause(now)).order_by(Job.run_after, Job.id).limit(limit)
    statement = update(Job)
    if session.get_bind().dialect.name == "postgresql":
        # A CTE is evaluated once; jobs locked by another claim are skipped, not waited for.
        due_cte = due.with_for_update(skip_locked=True).cte("due")
        statement = statement.where(Job.id == due_cte.c.id)
    else:  # SQLite: writers are serial (BEGIN IMMEDIATE)
        statement = statement.where(Job.id.in_(due.scalar_subquery()))
    result = await session.execute(
        statement.values(
            status=JobStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
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
            Job.run_after,
        )
        .execution_options(synchronize_session=False)
    )
    rows = sorted(result.all(), key=lambda row: (row.run_after, row.id))
    return [
        ClaimedJob(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            expires_at=row.expires_at,
            progress=row.progress,
        )
        for row in rows
    ]


def _mine(job_id: int, owner: str) -> Any:
    return (Job.id == job_id) & (Job.lease_owner == owner) & (Job.status == JobStatus.RUNNING)


async def finish(
    session: AsyncSession,
    job_id: int,
    owner: str,
    *,
    status: JobStatus,
    now: datetime,
    error: str | None = None,
) -> bool:
    """DONE, DEAD or EXPIRED; False when the lease was lost (the job is someone else's now)."""
    values: dict[str, Any] = {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
    }
    if error is not None:
        values["last_error"] = error[:MAX_ERROR_LENGTH]
    result = await session.execute(update(Job).where(_mine(job_id, owner)).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def retry_later(
    session: AsyncSession,
    job_id: int,
    owner: str,
    *,
    run_after: datetime,
    now: datetime,
    error: str | None,
    count_attempt: bool = True,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Back to waiting: FAILED after an error (counted), QUEUED when the handler asked to run
    again later (not counted as an attempt)."""
    values: dict[str, Any] = {
        "status": JobStatus.FAILED if error is not None else JobStatus.QUEUED,
        "run_after": run_after,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
        "last_error": None if error is None else error[:MAX_ERROR_LENGTH],
    }
    if not count_attempt:
        values["attempts"] = Job.attempts - 1
    if progress is not None:
        values["progress"] = progress
    result = await session.execute(update(Job).where(_mine(job_id, owner)).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, job_ids: list[int], owner: str, *, now: datetime) -> int:
    """Hand jobs back untouched (shutdown): due at once for any worker, the attempt uncounted."""
    if not job_ids:
        return 0
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
        .values(
            status=JobStatus.QUEUED,
            lease_owner=None,
            lease_expires_at=None,
            attempts=Job.attempts - 1,
            run_after=now,
            updated_at=now,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def renew(
    session: AsyncSession, job_ids: list[int], owner: str, *, now: datetime, lease_s: float
) -> set[int]:
    """Extend the leases `owner` still holds; the ids it still holds."""
    if not job_ids:
        return set()
    result = await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(Job.id)
    )
    return {row[0] for row in result.all()}


async def save_progress(
    session: AsyncSession, job_id: int, owner: str, progress: dict[str, Any]
) -> bool:
    """Record progress in the caller's transaction (a resumable job commits its cursor with the
    work it covers)."""
    result = await session.execute(
        update(Job).where(_mine(job_id, owner)).values(progress=progress)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff_s(
    attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter in [½, 1½) of base·2^(attempt-1), capped."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    delay = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return float(min(max_s, delay * (0.5 + rng.random())))
