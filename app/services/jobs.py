"""Jobs: the one way any area asks for background work, in the same transaction as its change.

    await jobs.enqueue(session, "import.members", {"import_id": 7})
    await jobs.schedule(session, "meeting:42:reminder:day-before", "notice.fanout", {...},
                        run_at=..., expires_at=meeting.starts_at)
    await jobs.move(session, "meeting:42:reminder:day-before", run_at=...)
    await jobs.cancel(session, "meeting:42:reminder:day-before")

Nothing runs until the caller's transaction commits: a rolled-back change leaves no job behind.
A `key` names a job: `enqueue` with a key adds it only when no live job has that key (a finished
one is replaced), `schedule` adds it or replaces whatever has that key (a moved meeting gets its
reminder again). Due jobs are found in the database by any number of workers (`app/worker`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import dialect_insert
from app.models import Job, JobStatus
from app.models.base import utcnow
from app.models.job import FINISHED, WAITING

DEFAULT_MAX_ATTEMPTS = 8


def _values(
    kind: str,
    payload: dict[str, Any],
    *,
    key: str | None,
    run_after: datetime,
    expires_at: datetime | None,
    max_attempts: int,
    now: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED,
        "key": key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after,
        "expires_at": expires_at,
        "lease_owner": None,
        "lease_expires_at": None,
        "progress": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_after: datetime | None = None,
    dedupe_key: str | None = None,
    expires_at: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: datetime | None = None,
) -> int | None:
    """Add a job (flushed with the caller's transaction). With `dedupe_key`, nothing is added
    while a live job has that key; the id of the new job, or None when deduplicated."""
    now = now or utcnow()
    values = _values(
        kind,
        payload,
        key=dedupe_key,
        run_after=run_after or now,
        expires_at=expires_at,
        max_attempts=max_attempts,
        now=now,
    )
    statement = dialect_insert(session, Job).values(**values)
    if dedupe_key is not None:
        # A finished job with the key is replaced by the new one; a live one wins.
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={name: statement.excluded[name] for name in values if name != "key"},
            where=Job.status.in_([str(s) for s in FINISHED]),
        )
    result = await session.execute(statement.returning(Job.id))
    return result.scalar_one_or_none()


async def schedule(
    session: AsyncSession,
    key: str,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime,
    expires_at: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    now: datetime | None = None,
) -> int:
    """Run `kind` at `run_at`, replacing whatever job has `key` (queued, running or finished).

    Catch-up: a job found after `run_at` (workers were down) still runs, unless `expires_at` has
    passed, when it is dropped as EXPIRED. A running job that is replaced finishes its current
    run but is not marked done: it runs again at the new time."""
    now = now or utcnow()
    values = _values(
        kind,
        payload,
        key=key,
        run_after=run_at,
        expires_at=expires_at,
        max_attempts=max_attempts,
        now=now,
    )
    statement = dialect_insert(session, Job).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={name: statement.excluded[name] for name in values if name not in ("key",)},
    )
    result = await session.execute(statement.returning(Job.id))
    return int(result.scalar_one())


async def move(
    session: AsyncSession,
    key: str,
    *,
    run_at: datetime,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a job that has not run yet; False when there is none (or it already ran)."""
    values: dict[str, Any] = {"run_after": run_at, "updated_at": now or utcnow()}
    if expires_at is not None:
        values["expires_at"] = expires_at
    result = await session.execute(
        update(Job)
        .where(Job.key == key, Job.status.in_([str(s) for s in WAITING]))
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cancel(session: AsyncSession, key: str, *, now: datetime | None = None) -> bool:
    """Cancel the job named `key` unless it has finished; False when there was nothing to do."""
    now = now or utcnow()
    result = await session.execute(
        update(Job)
        .where(
            Job.key == key,
            or_(
                Job.status.in_([str(s) for s in WAITING]),
                Job.status == JobStatus.RUNNING,
            ),
        )
        .values(
            status=JobStatus.CANCELLED,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def find(session: AsyncSession, key: str) -> Job | None:
    job: Job | None = await session.scalar(
        select(Job).where(Job.key == key).execution_options(populate_existing=True)
    )
    return job


def due_clause(now: datetime) -> Any:
    """Jobs a worker may take at `now`: waiting and due, or running on an expired lease."""
    return or_(
        and_(Job.status.in_([str(s) for s in WAITING]), Job.run_after <= now),
        and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
    )


async def queue_counts(session: AsyncSession, now: datetime) -> tuple[dict[str, int], float]:
    """Jobs per status (unfinished ones) and the age in seconds of the oldest due job."""
    rows = (
        await session.execute(
            select(Job.status, func.count())
            .where(Job.status.in_([*map(str, WAITING), JobStatus.RUNNING, JobStatus.DEAD]))
            .group_by(Job.status)
        )
    ).all()
    counts = {str(status): int(count) for status, count in rows}
    oldest = await session.scalar(
        select(func.min(Job.run_after)).where(
            Job.status.in_([str(s) for s in WAITING]), Job.run_after <= now
        )
    )
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return counts, age
