"""Concurrent requests against committed data on a database of their own: single-use codes and
tokens stay single-use, counters lose no update, an idempotency key writes once, stale edits
lose. These races are real on PostgreSQL (many connections at once); on SQLite writers queue
behind one lock, so there the tests check outcomes, not the race."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from app.core.ratelimit import MemoryRateLimiter
from app.integrations.sms import ConsoleSmsGateway
from app.main import create_app
from app.models import IdempotencyKey, Member, OtpChallenge, RefreshToken, Role
from app.resources import Resources
from tests import dbs
from tests.conftest import FreshDatabase, make_settings
from tests.factories import grant, login_headers, make_member, make_org

CONCURRENCY = 20


@dataclass
class Live:
    client: httpx.AsyncClient
    resources: Resources
    sms: ConsoleSmsGateway
    phone: str
    branch_id: int
    officer: dict[str, str]


@pytest.fixture
async def live(fresh_db: FreshDatabase) -> AsyncIterator[Live]:
    url, engine = fresh_db.url, fresh_db.engine
    await dbs.migrate(engine)
    settings = make_settings(url)
    resources = Resources.build(settings)
    resources.sms = sms = ConsoleSmsGateway()
    resources.limiter = resources.auth.limiter = MemoryRateLimiter()
    async with resources.db.write() as session:
        branch = await make_org(session, name="Chi bộ Đồng thời")
        member = await make_member(session, branch, full_name="Nguyễn Văn Song Song")
        officer = await make_member(session, branch, full_name="Trần Thị Cán Bộ")
        await grant(session, officer, branch, Role.ORGANISATION_OFFICER)
        officer_headers = await login_headers(session, resources.auth.codec, officer.id)
        await session.commit()
        phone, branch_id = member.phone or "", branch.id
    app = create_app(settings, resources=resources)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Live(
            client=client,
            resources=resources,
            sms=sms,
            phone=phone,
            branch_id=branch_id,
            officer=officer_headers,
        )
    await resources.aclose()


async def _request_code(live: Live) -> tuple[str, str]:
    issued = await live.client.post("/api/v1/auth/otp/request", json={"phone": live.phone})
    assert issued.status_code == 202
    match = re.search(r"\b(\d{6})\b", live.sms.sent[-1].text)
    assert match
    return issued.json()["challenge_id"], match.group(1)


async def test_one_code_logs_in_once_under_concurrency(live: Live) -> None:
    challenge_id, code = await _request_code(live)
    responses = await asyncio.gather(
        *[
            live.client.post(
                "/api/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": code}
            )
            for _ in range(CONCURRENCY)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * (CONCURRENCY - 1)


async def test_concurrent_wrong_codes_are_all_counted(live: Live) -> None:
    challenge_id, code = await _request_code(live)
    wrong = "000000" if code != "000000" else "111111"
    responses = await asyncio.gather(
        *[
            live.client.post(
                "/api/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": wrong}
            )
            for _ in range(CONCURRENCY)
        ]
    )
    assert all(r.status_code in {401, 429} for r in responses)
    async with live.resources.db.read() as session:
        attempts = await session.scalar(
            select(OtpChallenge.attempts).where(OtpChallenge.id == challenge_id)
        )
    # Five tries kill the code; nothing beyond them is counted and none is lost.
    assert attempts == live.resources.auth.settings.otp_max_attempts
    assert sum(r.json()["code"] == "auth.otp_too_many_attempts" for r in responses) == 1


async def test_a_refresh_token_rotates_once_under_concurrency(live: Live) -> None:
    challenge_id, code = await _request_code(live)
    tokens = (
        await live.client.post(
            "/api/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": code}
        )
    ).json()
    responses = await asyncio.gather(
        *[
            live.client.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            for _ in range(CONCURRENCY)
        ]
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * (CONCURRENCY - 1)
    async with live.resources.db.read() as session:
        rows = await session.scalar(select(func.count()).select_from(RefreshToken))
    assert rows == 2  # the original and exactly one successor


async def test_racing_creates_of_one_phone_leave_one_member(live: Live) -> None:
    body = {"full_name": "Lê Văn Trùng", "phone": "0912 999 888"}
    responses = await asyncio.gather(
        *[
            live.client.post(
                f"/api/v1/orgs/{live.branch_id}/members", json=body, headers=live.officer
            )
            for _ in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses]
    # The losers get the service's own check or, when they raced past it, the database's refusal.
    codes = {r.json()["code"] for r in responses if r.status_code == 409}
    assert codes <= {"member.phone_taken", "resource.conflict"}
    async with live.resources.db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Member).where(Member.phone == "+84912999888")
        )
    assert count == 1


async def test_racing_code_requests_send_one_sms(live: Live) -> None:
    responses = await asyncio.gather(
        *[
            live.client.post("/api/v1/auth/otp/request", json={"phone": live.phone})
            for _ in range(CONCURRENCY)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [429] * (CONCURRENCY - 1)
    assert len(live.sms.sent) == 1
    async with live.resources.db.read() as session:
        open_codes = await session.scalar(
            select(func.count())
            .select_from(OtpChallenge)
            .where(OtpChallenge.phone == live.phone, OtpChallenge.consumed_at.is_(None))
        )
    assert open_codes == 1


async def test_identical_requests_with_one_key_write_once(live: Live) -> None:
    # Meaningful on PostgreSQL (real concurrency); on SQLite writers queue behind one lock and
    # the test still checks the outcome.
    copies = 100 if live.resources.db.engine.dialect.name == "postgresql" else 20
    body = {"full_name": "Phan Văn Một Lần", "phone": "0912 777 666"}
    headers = {**live.officer, "Idempotency-Key": "one-create-many-tries"}
    responses = await asyncio.gather(
        *[
            live.client.post(f"/api/v1/orgs/{live.branch_id}/members", json=body, headers=headers)
            for _ in range(copies)
        ]
    )
    # Duplicates wait for the first to commit (the claim is in its transaction), then replay it.
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == copies, [r.text for r in responses if r.status_code != 201]
    # Exactly one executed; every other 201 is the stored answer replayed.
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
    assert len({r.json()["id"] for r in created}) == 1
    async with live.resources.db.read() as session:
        members = await session.scalar(
            select(func.count()).select_from(Member).where(Member.phone == "+84912777666")
        )
        stored = (
            await session.execute(
                select(IdempotencyKey.state, IdempotencyKey.status_code).where(
                    IdempotencyKey.key == "one-create-many-tries"
                )
            )
        ).all()
    assert members == 1
    assert [tuple(row) for row in stored] == [("done", 201)]


async def test_two_stale_edits_one_wins(live: Live) -> None:
    async with live.resources.db.write() as session:
        member = await session.scalar(select(Member).where(Member.phone == live.phone))
        assert member is not None
        member_id = member.id
    url = f"/api/v1/members/{member_id}"
    tag = (await live.client.get(url, headers=live.officer)).headers["ETag"]
    responses = await asyncio.gather(
        *[
            live.client.patch(
                url, json={"full_name": name}, headers={**live.officer, "If-Match": tag}
            )
            for name in ("Nguyễn Văn Thắng", "Nguyễn Văn Thua")
        ]
    )
    assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()["full_name"]
    loser = next(r for r in responses if r.status_code == 412)
    assert loser.json()["code"] == "resource.etag_mismatch"
    async with live.resources.db.read() as session:
        stored = await session.scalar(select(Member.full_name).where(Member.id == member_id))
    assert stored == winner


async def test_a_document_is_studied_once_under_concurrency(live: Live) -> None:
    """Twenty devices of one member mark a document studied at once: one receipt, one studied
    moment (the study points hook, `documents.member_studied`, runs once)."""
    from app.models import Document, DocumentReceipt
    from app.models.base import utcnow

    async with live.resources.db.write() as session:
        now = utcnow()
        document = Document(
            org_id=live.branch_id,
            type="resolution",
            title="Nghị quyết",
            title_folded="nghi quyet",
            summary="",
            summary_folded="",
            tags=[],
            is_confidential=False,
            is_important=False,
            status="published",
            extraction_status="none",
            created_at=now,
            updated_at=now,
            published_at=now,
        )
        session.add(document)
        member_id = await session.scalar(select(Member.id).where(Member.phone == live.phone))
        assert member_id is not None
        headers = await login_headers(session, live.resources.auth.codec, member_id)
        await session.commit()
        document_id = document.id
    # Opened first: the receipt row exists, so nothing but its row lock orders the requests.
    opened = await live.client.post(f"/api/v1/documents/{document_id}/open", headers=headers)
    assert opened.status_code == 200
    responses = await asyncio.gather(
        *[
            live.client.post(f"/api/v1/documents/{document_id}/studied", headers=headers)
            for _ in range(CONCURRENCY)
        ]
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["receipt"]["studied_at"] for r in responses}) == 1
    async with live.resources.db.write() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(DocumentReceipt)
            .where(DocumentReceipt.document_id == document_id)
        )
    assert count == 1
