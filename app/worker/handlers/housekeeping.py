"""Housekeeping: prune rows nothing needs after a while, once per `WORKER__HOUSEKEEPING_EVERY_S`.

Login state (OTP challenges, password failures, ended sessions and their refresh tokens), finished
jobs, old deliveries and inbox rows, stale worker heartbeats. What statistics need survives:
member activity is kept per member and month (`member_activity`, written at login and refresh),
SMS spending per day (`sms_usage`). Deletes run in batches, one transaction each, so they never
hold locks for long.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select

from app.models import (
    AuthSession,
    Delivery,
    DeliveryStatus,
    IdempotencyKey,
    Job,
    LoginFailure,
    Notification,
    OtpChallenge,
    RefreshToken,
    Upload,
    WorkerHeartbeat,
)
from app.models.job import FINISHED
from app.worker.registry import JobContext, Later, registry

log = logging.getLogger("app.worker.housekeeping")

HOUSEKEEPING_JOB = "housekeeping"
BATCH = 5000


def rules(now: datetime, keep: Any) -> list[tuple[str, Any, Any, Any]]:
    """(name, table, primary key column, condition) of every kind of row to prune."""
    days = timedelta(days=1)
    otp_cutoff = now - keep.keep_otp_days * days
    session_cutoff = now - keep.keep_ended_sessions_days * days
    return [
        (
            "otp_challenge",
            OtpChallenge.__table__,
            OtpChallenge.id,
            OtpChallenge.expires_at < otp_cutoff,
        ),
        (
            "login_failure",
            LoginFailure.__table__,
            LoginFailure.id,
            LoginFailure.created_at < now - keep.keep_login_failures_days * days,
        ),
        # Tokens past their expiry can never be used again (a replayed one is refused either
        # way); their sessions may live on.
        (
            "refresh_token",
            RefreshToken.__table__,
            RefreshToken.id,
            RefreshToken.expires_at < session_cutoff,
        ),
        # Ended sessions (revoked or expired) go with their remaining tokens (ON DELETE CASCADE).
        (
            "auth_session",
            AuthSession.__table__,
            AuthSession.id,
            or_(AuthSession.revoked_at < session_cutoff, AuthSession.expires_at < session_cutoff),
        ),
        (
            "job",
            Job.__table__,
            Job.id,
            and_(
                Job.status.in_([str(s) for s in FINISHED]),
                Job.finished_at < now - keep.keep_finished_jobs_days * days,
                Job.key.is_(None) | ~Job.key.like("recurring:%"),
            ),
        ),
        (
            "delivery",
            Delivery.__table__,
            Delivery.id,
            and_(
                Delivery.status != DeliveryStatus.PENDING,
                Delivery.next_attempt_at < now - keep.keep_deliveries_days * days,
            ),
        ),
        (
            "notification",
            Notification.__table__,
            Notification.id,
            Notification.created_at < now - keep.keep_notifications_days * days,
        ),
        (
            "worker_heartbeat",
            WorkerHeartbeat.__table__,
            WorkerHeartbeat.id,
            WorkerHeartbeat.seen_at < now - 7 * days,
        ),
        # Stored answers of retried writes are kept 24 hours.
        (
            "idempotency_key",
            IdempotencyKey.__table__,
            IdempotencyKey.id,
            IdempotencyKey.expires_at < now,
        ),
    ]


async def prune_unattached_uploads(ctx: JobContext, now: datetime) -> int:
    """Uploads no area took before they expired: the stored object first, then the row (an
    object whose row remains is retried next time; a row never outlives its object)."""
    removed = 0
    while not ctx.stopping.is_set():
        async with ctx.db.write.begin() as session:
            expired = (
                await session.execute(
                    select(Upload.id, Upload.storage_key)
                    .where(Upload.attached_at.is_(None), Upload.expires_at < now)
                    .order_by(Upload.id)
                    .limit(500)
                )
            ).all()
        if not expired:
            break
        for _upload_id, key in expired:
            await ctx.resources.storage.delete(key)
        async with ctx.db.write.begin() as session:
            await session.execute(
                delete(Upload)
                .where(Upload.id.in_([upload_id for upload_id, _key in expired]))
                .where(Upload.attached_at.is_(None))
            )
        removed += len(expired)
        if len(expired) < 500:
            break
    return removed


async def prune(ctx: JobContext, now: datetime) -> dict[str, int]:
    removed: dict[str, int] = {}
    for name, table, key, condition in rules(now, ctx.resources.settings.worker):
        total = 0
        while True:
            async with ctx.db.write.begin() as session:
                batch = select(key).where(condition).limit(BATCH).scalar_subquery()
                result = await session.execute(
                    delete(table).where(key.in_(batch)).execution_options(synchronize_session=False)
                )
                count = int(result.rowcount)  # type: ignore[attr-defined]
            total += count
            if count < BATCH or ctx.stopping.is_set():
                break
        removed[name] = total
    removed["upload"] = await prune_unattached_uploads(ctx, now)
    return removed


@registry.handler(HOUSEKEEPING_JOB, recurring=True)
async def housekeeping(ctx: JobContext) -> Later:
    now = ctx.now()
    removed = await prune(ctx, now)
    log.info("housekeeping done", extra={"removed": removed})
    return Later(
        now + timedelta(seconds=ctx.resources.settings.worker.housekeeping_every_s),
        progress={"last_run": now.isoformat(), "removed": removed},
    )
