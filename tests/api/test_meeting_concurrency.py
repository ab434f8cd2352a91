"""Meeting night under concurrency, on committed data in a database of its own: a member's
check-in retried many times at once leaves one attendance, a hundred members checking in at once
leave a hundred, concurrent ballots are counted exactly once per voter (open and secret)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.core.ratelimit import MemoryRateLimiter
from app.main import create_app
from app.models import IdempotencyKey, MeetingAttendee, MotionVote, Role, SecretBallot
from app.models.base import utcnow
from app.resources import Resources
from tests import dbs
from tests.conftest import FreshDatabase, make_settings
from tests.factories import grant, login_headers, make_member, make_org

MEMBERS = 100


@dataclass
class Night:
    client: httpx.AsyncClient
    resources: Resources
    meeting_id: int
    secretary: dict[str, str]
    members: list[tuple[int, dict[str, str]]]


@pytest.fixture
async def night(fresh_db: FreshDatabase) -> AsyncIterator[Night]:
    await dbs.migrate(fresh_db.engine)
    settings = make_settings(fresh_db.url)
    # A hundred requests share a pool of ten connections: on a loaded machine they wait longer
    # than the production default allows (the test is about outcomes, not speed).
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"pool_timeout_s": 120.0})}
    )
    resources = Resources.build(settings)
    resources.limiter = resources.auth.limiter = MemoryRateLimiter()
    async with resources.db.write() as session:
        branch = await make_org(session, name="Chi bộ Đêm Họp")
        secretary = await make_member(session, branch, full_name="Lê Thị Bí Thư")
        await grant(session, secretary, branch, Role.SECRETARY)
        members = [
            await make_member(session, branch, full_name=f"Nguyễn Văn Số {i}")
            for i in range(MEMBERS)
        ]
        codec = resources.auth.codec
        secretary_headers = await login_headers(session, codec, secretary.id)
        member_headers = [(m.id, await login_headers(session, codec, m.id)) for m in members]
        await session.commit()
        branch_id = branch.id
    app = create_app(settings, resources=resources)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        starts = utcnow() + timedelta(minutes=5)
        created = await client.post(
            f"/api/v1/orgs/{branch_id}/meetings",
            json={
                "title": "Sinh hoạt chi bộ",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=1)).isoformat(),
            },
            headers=secretary_headers,
        )
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        for step in ("announce", "start"):
            response = await client.post(
                f"/api/v1/meetings/{meeting_id}/{step}", headers=secretary_headers
            )
            assert response.status_code == 200, response.text
        yield Night(client, resources, meeting_id, secretary_headers, member_headers)
    await resources.aclose()


async def _present(night: Night, member_id: int) -> int:
    async with night.resources.db.write() as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    MeetingAttendee.meeting_id == night.meeting_id,
                    MeetingAttendee.member_id == member_id,
                    MeetingAttendee.attendance == "present",
                )
            )
            or 0
        )


async def test_a_hundred_check_ins_of_one_member_leave_one_attendance(night: Night) -> None:
    member_id, headers = night.members[0]
    url = f"/api/v1/meetings/{night.meeting_id}/check-in"
    responses = await asyncio.gather(*[night.client.post(url, headers=headers) for _ in range(100)])
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["checked_in_at"] for r in responses}) == 1
    assert await _present(night, member_id) == 1
    async with night.resources.db.write() as session:
        rows = await session.scalar(
            select(func.count()).where(MeetingAttendee.meeting_id == night.meeting_id)
        )
    assert rows == MEMBERS + 1  # one row per summoned member, nothing added


async def test_retries_of_one_check_in_with_its_key_wait_and_replay_the_first(
    night: Night,
) -> None:
    """The key's claim is in the check-in's own transaction: a duplicate waits on the key until
    the first commits, then gets its answer (never 409 `idempotency.in_flight`)."""
    member_id, headers = night.members[1]
    url = f"/api/v1/meetings/{night.meeting_id}/check-in"
    keyed = {**headers, "Idempotency-Key": "one-check-in"}
    responses = await asyncio.gather(*[night.client.post(url, headers=keyed) for _ in range(50)])
    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses]
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert len({r.content for r in responses}) == 1
    assert await _present(night, member_id) == 1
    async with night.resources.db.write() as session:
        stored = (
            await session.execute(
                select(IdempotencyKey.state, IdempotencyKey.status_code).where(
                    IdempotencyKey.key == "one-check-in"
                )
            )
        ).all()
    assert [tuple(row) for row in stored] == [("done", 200)]


async def test_a_hundred_members_checking_in_at_once_leave_a_hundred_attendances(
    night: Night,
) -> None:
    url = f"/api/v1/meetings/{night.meeting_id}/check-in"
    responses = await asyncio.gather(
        *[
            night.client.post(url, headers={**headers, "Idempotency-Key": f"ci-{member_id}"})
            for member_id, headers in night.members
        ]
    )
    assert [r.status_code for r in responses] == [200] * MEMBERS
    summary = await night.client.get(
        f"/api/v1/meetings/{night.meeting_id}/attendance", headers=night.secretary
    )
    assert summary.json()["present"] == MEMBERS
    assert summary.json()["is_quorate"] is True


@pytest.mark.parametrize("secret", [False, True])
async def test_concurrent_ballots_count_once_per_voter(night: Night, secret: bool) -> None:
    voters = night.members[:30]
    await asyncio.gather(
        *[
            night.client.post(f"/api/v1/meetings/{night.meeting_id}/check-in", headers=h)
            for _, h in voters
        ]
    )
    opened = await night.client.post(
        f"/api/v1/meetings/{night.meeting_id}/motions",
        json={"text": "Thông qua nghị quyết", "is_secret": secret},
        headers=night.secretary,
    )
    assert opened.status_code == 201, opened.text
    motion_id = opened.json()["id"]
    url = f"/api/v1/motions/{motion_id}/{'secret-ballots' if secret else 'ballots'}"
    # Each voter sends their ballot twice at once; the first 20 vote yes, the rest no.
    requests = [
        night.client.post(url, json={"choice": "yes" if i < 20 else "no"}, headers=h)
        for i, (_, h) in enumerate(voters)
        for _ in range(2)
    ]
    responses = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 30 + [409] * 30
    closed = await night.client.post(f"/api/v1/motions/{motion_id}/close", headers=night.secretary)
    result = closed.json()["result"]
    assert (result["yes"], result["no"], result["abstain"]) == (20, 10, 0)
    assert result["eligible"] == MEMBERS + 1
    assert result["has_passed"] is False  # 20 of 101 summoned voting members
    async with night.resources.db.write() as session:
        participation = await session.scalar(
            select(func.count()).where(MotionVote.motion_id == motion_id)
        )
        ballots = await session.scalar(
            select(func.count()).where(SecretBallot.motion_id == motion_id)
        )
    assert participation == 30
    assert ballots == (30 if secret else 0)
