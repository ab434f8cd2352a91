"""Background jobs and the workers that run them.

A job is a row: any area enqueues one in the same transaction as the change that needs it, and
any number of workers claim due jobs (`FOR UPDATE SKIP LOCKED` on PostgreSQL). A worker holds a
lease on the jobs it runs and renews it with its heartbeat; a job whose lease runs out (its
worker died) is taken over by another. `key` makes a job unique: a scheduled notice
("remind these members of meeting 42 the day before") is found, moved or cancelled by it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for run_after
    RUNNING = "running"  # leased by a worker until lease_expires_at
    FAILED = "failed"  # the last attempt failed; retried at run_after
    DONE = "done"
    DEAD = "dead"  # attempts exhausted or a permanent error: needs a person
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # found after its expires_at (e.g. a reminder for a past meeting)


# Jobs a worker may claim once run_after has come.
WAITING = (JobStatus.QUEUED, JobStatus.FAILED)
FINISHED = (JobStatus.DONE, JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.EXPIRED)


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    # Unique when set: dedupes enqueues and names scheduled work (move, cancel).
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Past this the job is no longer useful: it is dropped (EXPIRED) instead of run late.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_job_status_run_after", "status", "run_after"),
        Index("ix_job_finished_at", "finished_at"),
    )


class WorkerHeartbeat(Base):
    """One row per worker process: alive while `seen_at` is fresh."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    jobs_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    __table_args__ = (Index("ix_worker_heartbeat_hostname_seen_at", "hostname", "seen_at"),)
