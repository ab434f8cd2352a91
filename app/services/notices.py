"""Notices: "notify these members (or every member of this org's subtree) about this".

The outbox of notifications. Any area calls these in the same session (and so the same
transaction) as the change that causes the notice; the worker does the rest after the commit:
splits the audience into chunks (streamed, never in the request), writes each member's inbox row,
pushes to their devices, and sends an SMS to members who asked for it or have no device when the
notice is marked for it.

    await notices.notify(session, kind=NoticeKind.MEETING, title="Họp chi bộ tháng 12",
                         body="Chi bộ Khu phố 1 họp lúc 19:30 ngày 15/12.",
                         data={"meeting_id": "42"}, audience=Audience(org_id=branch.id))
    await notices.schedule_notice(session, "meeting:42:day-before", at=..., expires_at=starts_at,
                                  kind=..., title=..., body=..., audience=Audience(member_ids=ids))
    await notices.move_notice(session, "meeting:42:day-before", at=...)
    await notices.cancel_notice(session, "meeting:42:day-before")

Payloads go to phones' lock screens through Google and Apple: a title, a short body and ids to
open the right screen — never the text of a confidential document or the content of a vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unprocessable
from app.models import Notice, NoticeKind, NoticeStatus
from app.models.base import utcnow
from app.services import jobs

FANOUT_JOB = "notice.fanout"
DELIVER_JOB = "notice.deliver"
TITLE_MAX = 120
BODY_MAX = 240
MAX_LISTED_MEMBERS = 100_000


@dataclass(frozen=True)
class Audience:
    """Every member of `org_id`'s subtree, and/or the listed members."""

    org_id: int | None = None
    member_ids: Sequence[int] = field(default_factory=tuple)


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fill(
    notice: Notice,
    *,
    kind: NoticeKind,
    title: str,
    body: str,
    data: Mapping[str, object] | None,
    audience: Audience,
    is_urgent: bool,
    has_push: bool,
    has_sms: bool,
    expires_at: datetime | None,
) -> None:
    if audience.org_id is None and not audience.member_ids:
        raise Unprocessable("Thông báo cần có người nhận.", code="notice.no_audience")
    if len(audience.member_ids) > MAX_LISTED_MEMBERS:
        raise Unprocessable("Quá nhiều người nhận trong danh sách.", code="notice.too_many")
    if not title.strip():
        raise Unprocessable("Thông báo cần có tiêu đề.", code="notice.no_title")
    notice.kind = kind
    notice.title = short(title, TITLE_MAX)
    notice.body = short(body, BODY_MAX)
    notice.data = {str(k): str(v) for k, v in (data or {}).items()}
    notice.audience_org_id = audience.org_id
    notice.audience_member_ids = sorted(set(audience.member_ids)) or None
    notice.is_urgent = is_urgent
    notice.has_push = has_push
    notice.has_sms = has_sms
    notice.expires_at = expires_at


async def notify(
    session: AsyncSession,
    *,
    kind: NoticeKind,
    title: str,
    body: str,
    audience: Audience,
    data: Mapping[str, object] | None = None,
    is_urgent: bool = False,
    has_push: bool = True,
    has_sms: bool = False,
    expires_at: datetime | None = None,
    created_by_id: int | None = None,
    now: datetime | None = None,
) -> Notice:
    """Notify now (as soon as a worker takes it after the commit)."""
    now = now or utcnow()
    notice = Notice(status=NoticeStatus.PENDING, created_at=now, created_by_id=created_by_id)
    _fill(
        notice,
        kind=kind,
        title=title,
        body=body,
        data=data,
        audience=audience,
        is_urgent=is_urgent,
        has_push=has_push,
        has_sms=has_sms,
        expires_at=expires_at,
    )
    session.add(notice)
    await session.flush()
    await jobs.enqueue(
        session, FANOUT_JOB, {"notice_id": notice.id}, expires_at=expires_at, now=now
    )
    return notice


async def schedule_notice(
    session: AsyncSession,
    key: str,
    *,
    at: datetime,
    kind: NoticeKind,
    title: str,
    body: str,
    audience: Audience,
    data: Mapping[str, object] | None = None,
    is_urgent: bool = False,
    has_push: bool = True,
    has_sms: bool = False,
    expires_at: datetime | None = None,
    created_by_id: int | None = None,
    now: datetime | None = None,
) -> Notice:
    """Notify at `at`; `key` names it ("meeting:42:reminder:day-before"). Scheduling the same
    key again replaces the content and time of a notice not yet sent, or schedules a new one
    (the meeting moved after its reminder went out). After downtime a notice still goes late
    unless `expires_at` has passed: then it is dropped."""
    now = now or utcnow()
    notice: Notice | None = None
    existing = await jobs.find(session, key)
    if existing is not None and existing.kind == FANOUT_JOB:
        candidate = await session.get(
            Notice, existing.payload.get("notice_id"), populate_existing=True
        )
        if candidate is not None and candidate.status == NoticeStatus.PENDING:
            notice = candidate
    if notice is None:
        notice = Notice(status=NoticeStatus.PENDING, created_at=now, created_by_id=created_by_id)
        session.add(notice)
    _fill(
        notice,
        kind=kind,
        title=title,
        body=body,
        data=data,
        audience=audience,
        is_urgent=is_urgent,
        has_push=has_push,
        has_sms=has_sms,
        expires_at=expires_at,
    )
    await session.flush()
    await jobs.schedule(
        session,
        key,
        FANOUT_JOB,
        {"notice_id": notice.id},
        run_at=at,
        expires_at=expires_at,
        now=now,
    )
    return notice


async def move_notice(
    session: AsyncSession,
    key: str,
    *,
    at: datetime,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Move a scheduled notice that has not gone out; False when there is none."""
    moved = await jobs.move(session, key, run_at=at, expires_at=expires_at, now=now)
    if moved and expires_at is not None:
        job = await jobs.find(session, key)
        notice = await session.get(Notice, job.payload.get("notice_id")) if job else None
        if notice is not None:
            notice.expires_at = expires_at
    return moved


async def cancel_notice(session: AsyncSession, key: str, *, now: datetime | None = None) -> bool:
    """Cancel a scheduled notice; False when there was none to cancel (or it already went)."""
    job = await jobs.find(session, key)
    cancelled = await jobs.cancel(session, key, now=now)
    if job is not None and job.kind == FANOUT_JOB:
        notice = await session.get(Notice, job.payload.get("notice_id"), populate_existing=True)
        if notice is not None and notice.status == NoticeStatus.PENDING:
            notice.status = NoticeStatus.CANCELLED
            cancelled = True
    return cancelled
