"""Delivering notices: fan-out of the audience, then per chunk inbox rows, pushes and SMS.

`notice.fanout` streams the audience (an org's subtree in index order, and/or a list of members)
and enqueues one `notice.deliver` job per `NOTIFY__CHUNK_MEMBERS` members; its cursor is saved in
the same transaction as the jobs it enqueued, so a fan-out that is interrupted resumes where it
stopped, with no chunk lost or doubled. Several workers then deliver the chunks side by side.

`notice.deliver`, for one chunk:
1. one transaction: the members' inbox rows and a delivery row per device (push) and per member
   (SMS fallback), all "insert if absent": running it again changes nothing;
2. pushes of the due pending deliveries, through the gateway (rate cap, Retry-After pause);
3. one transaction: outcomes: sent; dead tokens pruned (their devices deleted); retries
   scheduled (Retry-After or backoff) until `FCM__MAX_ATTEMPTS`;
4. the same for SMS, within the notices' share of the daily SMS budget;
5. if deliveries wait (quiet hours, Retry-After, backoff) the job comes back then (`Later`).

A worker that dies between 2 and 3 leaves the deliveries pending: they are sent again with the
same idempotency key (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.db import dialect_insert
from app.integrations.fcm import PushMessage, PushOutcome
from app.integrations.sms import SmsMessage
from app.models import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Device,
    Member,
    Notice,
    NoticeKind,
    NoticeStatus,
    Notification,
    NotificationPreference,
    Org,
)
from app.models.base import UTCDateTime
from app.services import access, devices, jobs, sms_budget
from app.services.notices import DELIVER_JOB, FANOUT_JOB
from app.services.sms_budget import SmsPurpose
from app.worker import queue
from app.worker.registry import JobContext, Later, PermanentError, registry

log = logging.getLogger("app.worker.notices")

CHUNKS_PER_TRANSACTION = 20
SMS_CONCURRENCY = 8
_m = Member.__table__
_n = Notification.__table__
_d = Device.__table__
_del = Delivery.__table__


class LeaseLost(Exception):
    """Another worker owns the job now: roll back and stop."""


# --- fan-out -------------------------------------------------------------------------------------


@registry.handler(FANOUT_JOB)
async def fan_out(ctx: JobContext) -> Later | None:
    notice_id = int(ctx.payload["notice_id"])
    chunk = ctx.resources.settings.notify.chunk_members
    progress: dict[str, Any] = dict(ctx.job.progress or {})
    while True:
        if ctx.stopping.is_set():
            return Later(ctx.now(), progress)
        now = ctx.now()
        async with ctx.db.write.begin() as session:
            notice = await session.get(Notice, notice_id)
            if notice is None:
                raise PermanentError(f"notice {notice_id} does not exist")
            if notice.status != NoticeStatus.PENDING:
                return None  # cancelled, expired or already fanned out
            if notice.expires_at is not None and notice.expires_at <= now:
                notice.status = NoticeStatus.EXPIRED
                log.info("notice expired before it went out", extra={"notice": notice_id})
                return None
            ids, progress = await _next_members(
                session, notice, progress, limit=chunk * CHUNKS_PER_TRANSACTION
            )
            for start in range(0, len(ids), chunk):
                await jobs.enqueue(
                    session,
                    DELIVER_JOB,
                    {"notice_id": notice_id, "member_ids": ids[start : start + chunk]},
                    expires_at=notice.expires_at,
                    now=now,
                )
            finished = progress.get("phase") == "done"
            if finished:
                notice.status = NoticeStatus.FANNED_OUT
                notice.fanned_out_at = now
            if not await queue.save_progress(session, ctx.job.id, ctx.owner, progress):
                raise LeaseLost()
        if finished:
            log.info(
                "notice fanned out",
                extra={"notice": notice_id, "members": progress.get("members", 0)},
            )
            return None


async def _next_members(
    session: AsyncSession, notice: Notice, progress: dict[str, Any], *, limit: int
) -> tuple[list[int], dict[str, Any]]:
    """The next `limit` member ids of the audience, and the progress after them. Phases: the
    org's subtree (in the order of the org_path index), then the listed members."""
    phase = progress.get("phase") or ("org" if notice.audience_org_id else "list")
    ids: list[int] = []
    progress = dict(progress)
    if phase == "org":
        path = await session.scalar(select(Org.path).where(Org.id == notice.audience_org_id))
        if path is not None:
            lo, hi = access.subtree_range(path)
            stmt = select(_m.c.id, _m.c.org_path, _m.c.sort_key).where(
                _m.c.org_path >= lo, _m.c.org_path < hi
            )
            cursor = progress.get("cursor")
            if cursor:
                stmt = stmt.where(
                    tuple_(_m.c.org_path, _m.c.sort_key, _m.c.id)
                    > tuple_(
                        literal(cursor[0], String()),
                        literal(cursor[1], String()),
                        literal(cursor[2], BigInteger()),
                    )
                )
            rows = (
                await session.execute(
                    stmt.order_by(_m.c.org_path, _m.c.sort_key, _m.c.id).limit(limit)
                )
            ).all()
            ids = [row.id for row in rows]
            if len(rows) == limit:
                last = rows[-1]
                progress.update(cursor=[last.org_path, last.sort_key, last.id])
                progress["members"] = progress.get("members", 0) + len(ids)
                progress["phase"] = "org"
                return ids, progress
        progress.pop("cursor", None)
        phase = "list"
        limit -= len(ids)
    if phase == "list":
        listed = notice.audience_member_ids or []
        start = int(progress.get("index", 0))
        more = [int(i) for i in listed[start : start + limit]]
        ids += more
        progress["index"] = start + len(more)
        progress["phase"] = "list" if progress["index"] < len(listed) else "done"
    progress["members"] = progress.get("members", 0) + len(ids)
    return ids, progress


# --- delivery of one chunk -----------------------------------------------------------------------


@registry.handler(DELIVER_JOB)
async def deliver(ctx: JobContext) -> Later | None:
    notice_id = int(ctx.payload["notice_id"])
    member_ids = [int(i) for i in ctx.payload["member_ids"]]
    now = ctx.now()
    async with ctx.db.write.begin() as session:
        notice = await session.get(Notice, notice_id)
        if notice is None or notice.status == NoticeStatus.CANCELLED:
            return None
        if notice.expires_at is not None and notice.expires_at <= now:
            await _skip_pending(session, notice_id, member_ids, "expired")
            return None
        await _prepare(ctx, session, notice, member_ids, now)
        info = _NoticeInfo(
            id=notice.id,
            kind=notice.kind,
            title=notice.title,
            body=notice.body,
            data=dict(notice.data),
        )
    waits = [
        await _send_pushes(ctx, info, member_ids),
        await _send_sms(ctx, info, member_ids),
    ]
    due = [w for w in waits if w is not None]
    return Later(min(due)) if due else None


class _NoticeInfo:
    __slots__ = ("body", "data", "id", "kind", "title")

    def __init__(self, *, id: int, kind: str, title: str, body: str, data: dict[str, str]) -> None:
        self.id, self.kind, self.title, self.body, self.data = id, kind, title, body, data


def quiet_until(now: datetime, start: time, end: time, timezone: str) -> datetime | None:
    """The end of the member's quiet hours if `now` falls in them (local times, may wrap
    midnight), else None."""
    local = now.astimezone(ZoneInfo(timezone))
    t = local.time().replace(tzinfo=None)
    if start == end:
        return None
    if start < end:
        if not start <= t < end:
            return None
        day = local.date()
    else:
        if not (t >= start or t < end):
            return None
        day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=ZoneInfo(timezone)).astimezone(now.tzinfo)


async def _prepare(
    ctx: JobContext, session: AsyncSession, notice: Notice, member_ids: list[int], now: datetime
) -> None:
    """Inbox rows and deliveries of the chunk, each added only if absent."""
    settings = ctx.resources.settings
    await session.execute(
        dialect_insert(session, _n)
        .from_select(
            ["member_id", "notice_id", "kind", "title", "body", "data", "created_at"],
            select(
                _m.c.id,
                literal(notice.id, BigInteger()),
                literal(notice.kind, String()),
                literal(notice.title, String()),
                literal(notice.body, String()),
                literal(notice.data, JSON()),
                literal(now, UTCDateTime()),
            ).where(_m.c.id.in_(member_ids)),
        )
        .on_conflict_do_nothing(index_elements=["notice_id", "member_id"])
    )
    prefs = (
        await session.execute(
            select(
                NotificationPreference.member_id,
                NotificationPreference.muted_kinds,
                NotificationPreference.quiet_start,
                NotificationPreference.quiet_end,
                NotificationPreference.is_sms_preferred,
            ).where(NotificationPreference.member_id.in_(member_ids))
        )
    ).all()
    muted: set[int] = set()
    sms_preferred: set[int] = set()
    deferred: dict[int, datetime] = {}
    for row in prefs:
        if notice.kind in (row.muted_kinds or []) and notice.kind != NoticeKind.ACCOUNT:
            muted.add(row.member_id)
            continue
        if row.is_sms_preferred:
            sms_preferred.add(row.member_id)
        if not notice.is_urgent and row.quiet_start is not None and row.quiet_end is not None:
            until = quiet_until(now, row.quiet_start, row.quiet_end, settings.rules.timezone)
            if until is not None:
                deferred[row.member_id] = until
    reachable = [i for i in member_ids if i not in muted]
    if not reachable:
        return

    def when(member_column: Any) -> Any:
        if not deferred:
            return literal(now, UTCDateTime())
        return case(
            {member_id: literal(at, UTCDateTime()) for member_id, at in deferred.items()},
            value=member_column,
            else_=literal(now, UTCDateTime()),
        )

    columns = [
        "notice_id",
        "member_id",
        "channel",
        "target_id",
        "status",
        "attempts",
        "next_attempt_at",
    ]
    push_enabled = ctx.resources.push.enabled and notice.has_push
    if push_enabled:
        await session.execute(
            dialect_insert(session, _del)
            .from_select(
                columns,
                select(
                    literal(notice.id, BigInteger()),
                    _d.c.member_id,
                    literal(str(DeliveryChannel.PUSH), String()),
                    _d.c.id,
                    literal(str(DeliveryStatus.PENDING), String()),
                    literal(0),
                    when(_d.c.member_id),
                )
                .select_from(_d.join(_m, _m.c.id == _d.c.member_id))
                .where(_d.c.member_id.in_(reachable), _m.c.is_locked.is_(False)),
            )
            .on_conflict_do_nothing(index_elements=["notice_id", "channel", "target_id"])
        )
    if notice.has_sms:
        has_device = exists().where(_d.c.member_id == _m.c.id)
        wants_sms: Any = _m.c.id.in_(sorted(sms_preferred)) if sms_preferred else literal(False)
        condition = or_(wants_sms, ~has_device) if push_enabled else literal(True)
        await session.execute(
            dialect_insert(session, _del)
            .from_select(
                columns,
                select(
                    literal(notice.id, BigInteger()),
                    _m.c.id,
                    literal(str(DeliveryChannel.SMS), String()),
                    _m.c.id,
                    literal(str(DeliveryStatus.PENDING), String()),
                    literal(0),
                    when(_m.c.id),
                ).where(
                    _m.c.id.in_(reachable),
                    _m.c.is_locked.is_(False),
                    _m.c.phone.is_not(None),
                    condition,
                ),
            )
            .on_conflict_do_nothing(index_elements=["notice_id", "channel", "target_id"])
        )


async def _skip_pending(
    session: AsyncSession, notice_id: int, member_ids: list[int], reason: str
) -> None:
    await session.execute(
        update(Delivery)
        .where(
            Delivery.notice_id == notice_id,
            Delivery.member_id.in_(member_ids),
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.SKIPPED, last_error=reason)
    )


async def _next_wait(
    session: AsyncSession, notice_id: int, member_ids: list[int], channel: DeliveryChannel
) -> datetime | None:
    at: datetime | None = await session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.notice_id == notice_id,
            Delivery.member_id.in_(member_ids),
            Delivery.channel == channel,
            Delivery.status == DeliveryStatus.PENDING,
        )
    )
    return at


def _pending(notice_id: int, member_ids: list[int], channel: DeliveryChannel, now: datetime) -> Any:
    return and_(
        _del.c.notice_id == notice_id,
        _del.c.member_id.in_(member_ids),
        _del.c.channel == str(channel),
        _del.c.status == str(DeliveryStatus.PENDING),
        _del.c.next_attempt_at <= now,
    )


async def _send_pushes(
    ctx: JobContext, notice: _NoticeInfo, member_ids: list[int]
) -> datetime | None:
    gateway = ctx.resources.push
    settings = ctx.resources.settings.fcm
    now = ctx.now()
    async with ctx.db.write.begin() as session:
        rows = (
            await session.execute(
                select(
                    _del.c.id,
                    _del.c.attempts,
                    _d.c.id.label("device_id"),
                    _d.c.token,
                    _n.c.id.label("inbox_id"),
                )
                .select_from(
                    _del.outerjoin(_d, _d.c.id == _del.c.target_id).outerjoin(
                        _n,
                        and_(
                            _n.c.notice_id == _del.c.notice_id, _n.c.member_id == _del.c.member_id
                        ),
                    )
                )
                .where(_pending(notice.id, member_ids, DeliveryChannel.PUSH, now))
                .order_by(_del.c.id)
            )
        ).all()
        gone = [row.id for row in rows if row.token is None]
        if gone:  # the device was removed since: nothing to send to
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(gone))
                .values(status=DeliveryStatus.SKIPPED, last_error="device removed")
            )
    rows = [row for row in rows if row.token is not None]
    if rows:
        base = {**notice.data, "notice_id": str(notice.id), "kind": notice.kind}
        messages = [
            PushMessage(
                token=row.token,
                title=notice.title,
                body=notice.body,
                data={**base, "notification_id": str(row.inbox_id)} if row.inbox_id else base,
                collapse_key=f"notice-{notice.id}",
                message_id=str(row.id),
            )
            for row in rows
        ]
        results = await gateway.send(messages, now=now)
        await _record_push_results(
            ctx, rows, results, now, settings.max_attempts, settings.retry_base_s
        )
    async with ctx.db.write.begin() as session:
        return await _next_wait(session, notice.id, member_ids, DeliveryChannel.PUSH)


async def _record_push_results(
    ctx: JobContext,
    rows: Sequence[Any],
    results: Sequence[Any],
    now: datetime,
    max_attempts: int,
    retry_base_s: float,
) -> None:
    sent: list[int] = []
    pruned: list[int] = []
    dead_devices: list[int] = []
    failed: list[tuple[int, str]] = []
    retries: list[tuple[int, datetime, str]] = []
    for row, result in zip(rows, results, strict=True):
        if result.outcome is PushOutcome.SENT:
            sent.append(row.id)
        elif result.outcome in (PushOutcome.UNREGISTERED, PushOutcome.INVALID):
            pruned.append(row.id)
            dead_devices.append(row.device_id)
        elif result.outcome is PushOutcome.RETRY and row.attempts + 1 < max_attempts:
            backoff = queue.backoff_s(row.attempts + 1, base_s=retry_base_s, max_s=3600)
            wait = max(result.retry_after_s or 0.0, backoff)
            retries.append((row.id, now + timedelta(seconds=wait), result.error or "retry"))
        else:
            failed.append((row.id, result.error or "failed"))
    async with ctx.db.write.begin() as session:
        if sent:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(sent), Delivery.status == DeliveryStatus.PENDING)
                .values(
                    status=DeliveryStatus.SENT,
                    sent_at=now,
                    attempts=Delivery.attempts + 1,
                    last_error=None,
                )
            )
        if pruned:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(pruned))
                .values(
                    status=DeliveryStatus.PRUNED,
                    attempts=Delivery.attempts + 1,
                    last_error="token dead",
                )
            )
            await devices.prune(session, dead_devices)
        for delivery_id, error in failed:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.FAILED,
                    attempts=Delivery.attempts + 1,
                    last_error=error[:200],
                )
            )
        for delivery_id, at, error in retries:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(next_attempt_at=at, attempts=Delivery.attempts + 1, last_error=error[:200])
            )
    if pruned or failed or retries:
        log.info(
            "push outcomes",
            extra={
                "sent": len(sent),
                "pruned": len(pruned),
                "failed": len(failed),
                "retry": len(retries),
            },
        )


def unaccented(text: str) -> str:
    """SMS text without diacritics (see SmsSettings.template): "Họp chi bộ" → "Hop chi bo"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


async def _send_sms(ctx: JobContext, notice: _NoticeInfo, member_ids: list[int]) -> datetime | None:
    settings = ctx.resources.settings
    now = ctx.now()
    async with ctx.db.write.begin() as session:
        rows = (
            await session.execute(
                select(_del.c.id, _del.c.attempts, _m.c.phone)
                .select_from(_del.join(_m, _m.c.id == _del.c.member_id))
                .where(_pending(notice.id, member_ids, DeliveryChannel.SMS, now))
                .order_by(_del.c.id)
            )
        ).all()
        if not rows:
            return await _next_wait(session, notice.id, member_ids, DeliveryChannel.SMS)
        granted = await sms_budget.charge(
            session,
            settings.sms,
            SmsPurpose.NOTICE,
            len(rows),
            now=now,
            timezone=settings.rules.timezone,
        )
        over = [row.id for row in rows[granted:]]
        if over:
            # The cost fuse: notices have spent their share of today's SMS budget.
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(over))
                .values(status=DeliveryStatus.SKIPPED, last_error="sms budget")
            )
            metrics.SMS_MESSAGES.labels("notice", "over_budget").inc(len(over))
            metrics.SMS_NOTICE_FUSE.set(1)
            log.warning("notice SMS stopped: daily budget share used", extra={"skipped": len(over)})
    rows = rows[:granted]
    text = settings.notify.sms_template.format(title=unaccented(notice.title))
    gate = asyncio.Semaphore(SMS_CONCURRENCY)

    async def send(row: Any) -> bool:
        async with gate:
            try:
                await ctx.resources.sms.send(
                    SmsMessage(to=row.phone, text=text, reference=f"delivery-{row.id}")
                )
            except Exception:  # the gateway logs the reason (never the text)
                metrics.SMS_MESSAGES.labels("notice", "failed").inc()
                return False
            metrics.SMS_MESSAGES.labels("notice", "sent").inc()
            return True

    outcomes = await asyncio.gather(*(send(row) for row in rows))
    async with ctx.db.write.begin() as session:
        sent = [row.id for row, ok in zip(rows, outcomes, strict=True) if ok]
        if sent:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(sent))
                .values(status=DeliveryStatus.SENT, sent_at=now, attempts=Delivery.attempts + 1)
            )
        for row, ok in zip(rows, outcomes, strict=True):
            if ok:
                continue
            attempts = row.attempts + 1
            values: dict[str, Any] = {"attempts": attempts, "last_error": "sms failed"}
            if attempts >= settings.notify.sms_max_attempts:
                values["status"] = DeliveryStatus.FAILED
            else:
                values["next_attempt_at"] = now + timedelta(
                    seconds=queue.backoff_s(attempts, base_s=30, max_s=3600)
                )
            await session.execute(update(Delivery).where(Delivery.id == row.id).values(**values))
        return await _next_wait(session, notice.id, member_ids, DeliveryChannel.SMS)
