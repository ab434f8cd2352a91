"""Housekeeping prunes login rows, finished jobs, old deliveries and inbox rows past their
retention, keeps everything younger and what statistics read (member activity), and comes back
every period as one recurring job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import ManualClock
from app.core.security import new_id
from app.integrations.storage import LocalStorage
from app.models import (
    AuthSession,
    IdempotencyKey,
    Job,
    JobStatus,
    LoginFailure,
    MemberActivity,
    NoticeKind,
    Notification,
    OtpChallenge,
    RefreshToken,
    Upload,
)
from app.services import activity, jobs
from app.worker.handlers.housekeeping import HOUSEKEEPING_JOB
from app.worker.runner import Worker
from tests import samples
from tests.factories import Tree


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_housekeeping_prunes_what_is_past_its_retention_and_keeps_the_rest(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    now = clock.now()
    old, recent = now - timedelta(days=400), now - timedelta(hours=1)
    member = tree.member.id
    for when in (old, recent):
        session.add(
            OtpChallenge(
                id=new_id(),
                phone=tree.member.phone or "",
                member_id=member,
                code_hash="x" * 64,
                created_at=when,
                expires_at=when + timedelta(minutes=5),
            )
        )
        session.add(LoginFailure(phone="+84900000000", created_at=when))
        ended = AuthSession(
            id=new_id(),
            member_id=member,
            method="otp",
            created_at=when,
            last_used_at=when,
            expires_at=when + timedelta(days=90),
            revoked_at=when,
        )
        session.add(ended)
        await session.flush()
        session.add(
            RefreshToken(
                session_id=ended.id,
                token_hash=new_id() * 2,
                created_at=when,
                expires_at=when + timedelta(days=30),
            )
        )
        session.add(
            Notification(
                member_id=member,
                kind=NoticeKind.GENERAL,
                title="t",
                body="",
                data={},
                created_at=when,
            )
        )
    live = AuthSession(
        id=new_id(),
        member_id=member,
        method="otp",
        created_at=old,
        last_used_at=recent,
        expires_at=now + timedelta(days=1),
    )
    session.add(live)
    await session.flush()
    live_id = live.id
    # A live session's long-expired rotated token goes; its current one stays.
    session.add(
        RefreshToken(
            session_id=live.id,
            token_hash="a" * 64,
            created_at=old,
            expires_at=old + timedelta(days=30),
        )
    )
    session.add(
        RefreshToken(
            session_id=live.id,
            token_hash="b" * 64,
            created_at=recent,
            expires_at=now + timedelta(days=1),
        )
    )
    await activity.record_activity(
        session, member, now=old, timezone="Asia/Ho_Chi_Minh", login=True
    )
    done = await jobs.enqueue(session, "x.done", {}, now=old)
    await session.commit()
    job = await session.get(Job, done)
    assert job is not None
    job.status, job.finished_at = JobStatus.DONE, old
    await jobs.enqueue(
        session, HOUSEKEEPING_JOB, {}, dedupe_key=f"recurring:{HOUSEKEEPING_JOB}", now=now
    )
    await session.commit()

    await worker.run_once()

    session.expire_all()
    assert await _count(session, OtpChallenge) == 1
    assert await _count(session, LoginFailure) == 1
    sessions = set(await session.scalars(select(AuthSession.id)))
    assert live_id in sessions
    assert len(sessions) == 2  # the recent ended one is still within its retention
    tokens = set(await session.scalars(select(RefreshToken.token_hash)))
    assert "a" * 64 not in tokens
    assert "b" * 64 in tokens
    assert len(tokens) == 2
    assert await _count(session, Notification) == 1
    assert await _count(session, MemberActivity) == 1  # statistics keep it
    assert await session.get(Job, done) is None
    # It comes back one period later, as the same row.
    recurring = await session.scalar(select(Job).where(Job.kind == HOUSEKEEPING_JOB))
    assert recurring is not None
    assert recurring.status == JobStatus.QUEUED
    assert recurring.run_after == now + timedelta(seconds=worker.settings.housekeeping_every_s)
    assert recurring.progress is not None
    assert recurring.progress["removed"]["otp_challenge"] == 1


async def test_member_activity_is_one_row_per_member_and_month(
    session: AsyncSession, tree: Tree, clock: ManualClock
) -> None:
    tz = "Asia/Ho_Chi_Minh"
    now = clock.now()
    await activity.record_activity(session, tree.member.id, now=now, timezone=tz, login=True)
    later = now + timedelta(days=2)
    await activity.record_activity(session, tree.member.id, now=later, timezone=tz, login=False)
    await activity.record_activity(
        session, tree.member.id, now=now + timedelta(days=40), timezone=tz, login=True
    )
    rows = list(
        await session.scalars(
            select(MemberActivity)
            .where(MemberActivity.member_id == tree.member.id)
            .order_by(MemberActivity.month)
        )
    )
    assert [(row.month.isoformat(), row.logins) for row in rows] == [
        ("2026-12-01", 1),
        ("2027-01-01", 1),
    ]
    await session.refresh(rows[0])
    assert rows[0].first_seen_at == now
    assert rows[0].last_seen_at == later


async def test_housekeeping_removes_expired_keys_and_uploads_nobody_took(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, storage: LocalStorage
) -> None:
    now = clock.now()
    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    uploads = {}
    for name, expires_at, attached in (
        ("expired", past, None),
        ("taken", past, past),
        ("fresh", future, None),
    ):
        key = f"uploads/document/test/{name}.pdf"
        await storage.put_stream(key, _chunks(samples.pdf()), content_type="application/pdf")
        upload = Upload(
            member_id=tree.member.id,
            purpose="document",
            status="ready",
            storage_key=key,
            filename=f"{name}.pdf",
            content_type="application/pdf",
            size=1,
            created_at=past,
            expires_at=expires_at,
            attached_at=attached,
        )
        session.add(upload)
        uploads[name] = upload
    for key, expires_at in (("old-key", past), ("new-key", future)):
        session.add(
            IdempotencyKey(
                member_id=tree.member.id,
                key=key,
                fingerprint="f" * 64,
                state="done",
                locked_until=past,
                status_code=201,
                response_body=b"{}",
                created_at=past,
                expires_at=expires_at,
            )
        )
    await jobs.enqueue(
        session, HOUSEKEEPING_JOB, {}, dedupe_key=f"recurring:{HOUSEKEEPING_JOB}", now=now
    )
    await session.commit()

    await worker.run_once()

    session.expire_all()
    left = set(await session.scalars(select(Upload.filename)))
    assert left == {"taken.pdf", "fresh.pdf"}
    stored = {p.name for p in storage.root.rglob("*.pdf")}
    assert stored == {"taken.pdf", "fresh.pdf"}
    assert set(await session.scalars(select(IdempotencyKey.key))) == {"new-key"}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data
