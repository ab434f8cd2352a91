"""Housekeeping prunes login rows, finished jobs, old deliveries and inbox rows past their
retention, keeps everything younger and what statistics read (member activity), and comes back
every period as one recurring job."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import ManualClock
from app.core.security import new_id
from app.models import (
    AuthSession,
    Job,
    JobStatus,
    LoginFailure,
    MemberActivity,
    NoticeKind,
    Notification,
    OtpChallenge,
    RefreshToken,
)
from app.services import activity, jobs
from app.worker.handlers.housekeeping import HOUSEKEEPING_JOB
from app.worker.runner import Worker
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
