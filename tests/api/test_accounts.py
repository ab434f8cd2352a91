"""A member's phone and logins: changing the number (by the member with an SMS code, by an
officer with a reason) ends the member's logins and kills pending codes; members list and end
their logins; officers end all of a member's logins."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.geoip import MaxMindGeoIP, NoGeoIP
from app.integrations.sms import ConsoleSmsGateway
from app.models import AuditEvent, AuthSession, Member, OtpChallenge
from app.models.base import utcnow
from app.resources import Resources
from app.services import accounts
from tests.api.test_auth import bearer, otp_login
from tests.conftest import ActorLogin
from tests.factories import Tree, next_phone
from tests.geoip_files import city, write_city_db
from tests.http import assert_problem


def _code(sms: ConsoleSmsGateway, to: str) -> str:
    message = sms.sent[-1]
    assert message.to == to
    match = re.search(r"\b(\d{6})\b", message.text)
    assert match
    return match.group(1)


async def _live_sessions(session: AsyncSession, member_id: int) -> list[AuthSession]:
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.member_id == member_id, AuthSession.revoked_at.is_(None))
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def _open_codes(session: AsyncSession, member_id: int) -> list[OtpChallenge]:
    rows = await session.scalars(
        select(OtpChallenge)
        .where(OtpChallenge.member_id == member_id, OtpChallenge.consumed_at.is_(None))
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def test_member_changes_their_phone_by_proving_the_new_number(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    sms: ConsoleSmsGateway,
) -> None:
    old_phone = tree.member.phone or ""
    other_device = await as_actor(tree.member.id)
    me = await as_actor(tree.member.id)
    # A login code sent to the old number before the change.
    assert (await client.post("/api/v1/auth/otp/request", json={"phone": old_phone})).status_code
    new_phone = next_phone()
    issued = await client.post("/api/v1/me/phone/code", json={"phone": new_phone}, headers=me)
    assert issued.status_code == 202, issued.text
    challenge_id = issued.json()["challenge_id"]
    code = _code(sms, new_phone)
    # The code proves the number for this member's change only: not a login, not another member.
    login = await client.post(
        "/api/v1/auth/otp/verify", json={"challenge_id": challenge_id, "code": code}
    )
    assert_problem(login, 401, "auth.otp_invalid")
    stranger = await client.post(
        "/api/v1/me/phone",
        json={"challenge_id": challenge_id, "code": code},
        headers=await as_actor(tree.secretary.id),
    )
    assert_problem(stranger, 401, "auth.otp_invalid")

    done = await client.post(
        "/api/v1/me/phone", json={"challenge_id": challenge_id, "code": code}, headers=me
    )
    assert done.status_code == 200, done.text
    assert done.json()["phone"] == new_phone
    member = await session.get(Member, tree.member.id, populate_existing=True)
    assert member is not None
    assert member.phone == new_phone
    # This login stays, the other device's ends, the old number's code is dead.
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200
    assert_problem(
        await client.get("/api/v1/me", headers=other_device), 401, "auth.session_revoked"
    )
    assert await _open_codes(session, tree.member.id) == []
    events = list(
        await session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "member.phone_change",
                AuditEvent.target_id == str(tree.member.id),
            )
        )
    )
    assert len(events) == 1
    assert events[0].detail == {"by": "member", "reason": None}
    # The codes of both purposes share the number's limits.
    login_code = await client.post("/api/v1/auth/otp/request", json={"phone": new_phone})
    assert_problem(login_code, 429, "auth.otp_cooldown")


async def test_a_number_of_another_member_or_the_same_one_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, sms: ConsoleSmsGateway
) -> None:
    me = await as_actor(tree.member.id)
    taken = await client.post(
        "/api/v1/me/phone/code", json={"phone": tree.secretary.phone}, headers=me
    )
    assert_problem(taken, 409, "member.phone_taken")
    same = await client.post("/api/v1/me/phone/code", json={"phone": tree.member.phone}, headers=me)
    assert_problem(same, 409, "member.phone_unchanged")
    assert not sms.sent


async def test_officer_changes_a_phone_with_a_reason(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    member_login = await as_actor(tree.member.id)
    session.add(
        OtpChallenge(
            id="c" * 32,
            phone=tree.member.phone or "",
            member_id=tree.member.id,
            code_hash="0" * 64,
            expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    await session.commit()
    officer = await as_actor(tree.officer_c1.id)
    new_phone = next_phone()
    url = f"/api/v1/members/{tree.member.id}/phone"
    assert_problem(
        await client.post(url, json={"phone": new_phone}, headers=officer), 422, "request.invalid"
    )
    response = await client.post(
        url, json={"phone": new_phone, "reason": "Mất SIM, đã xác minh tại chi bộ"}, headers=officer
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == new_phone
    assert_problem(
        await client.get("/api/v1/me", headers=member_login), 401, "auth.session_revoked"
    )
    assert await _live_sessions(session, tree.member.id) == []
    assert await _open_codes(session, tree.member.id) == []
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "member.phone_change")
    )
    assert event is not None
    assert event.actor_id == tree.officer_c1.id
    assert event.detail == {"by": "officer", "reason": "Mất SIM, đã xác minh tại chi bộ"}
    assert_problem(
        await client.post(
            url, json={"phone": tree.secretary.phone, "reason": "Nhầm"}, headers=officer
        ),
        409,
        "member.phone_taken",
    )


async def test_member_lists_and_ends_their_logins(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    phone_login = await as_actor(tree.member.id)
    await session.execute(
        update(AuthSession)
        .where(AuthSession.member_id == tree.member.id)
        .values(user_agent="SoTayDangVien/2.3.1 (Android 14; Samsung SM-A546E)", ip="10.1.2.3")
    )
    await session.commit()
    me = await as_actor(tree.member.id)
    listed = await client.get("/api/v1/me/logins", headers=me)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 2
    current = [i for i in items if i["is_current"]]
    other = [i for i in items if not i["is_current"]]
    assert len(current) == 1
    assert len(other) == 1
    assert other[0]["device"] == "Android 14; Samsung SM-A546E"
    assert other[0]["app"] == "SoTayDangVien 2.3.1"
    assert other[0]["place"] == "Mạng nội bộ"
    ended = await client.delete(f"/api/v1/me/logins/{other[0]['id']}", headers=me)
    assert ended.status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=phone_login), 401, "auth.session_revoked")
    assert (await client.get("/api/v1/me", headers=me)).status_code == 200
    # Someone else's login, or one already ended: not found.
    assert_problem(
        await client.delete(f"/api/v1/me/logins/{other[0]['id']}", headers=me),
        404,
        "login.not_found",
    )
    theirs = await as_actor(tree.secretary.id)
    their_login = (await client.get("/api/v1/me/logins", headers=theirs)).json()["items"][0]["id"]
    assert_problem(
        await client.delete(f"/api/v1/me/logins/{their_login}", headers=me), 404, "login.not_found"
    )
    assert (await client.get("/api/v1/me", headers=theirs)).status_code == 200


async def test_officer_ends_all_of_a_members_logins(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    first = await as_actor(tree.member.id)
    second = await as_actor(tree.member.id)
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/logout-all", headers=await as_actor(tree.officer_c1.id)
    )
    assert response.status_code == 204
    for headers in (first, second):
        assert_problem(await client.get("/api/v1/me", headers=headers), 401, "auth.session_revoked")
    assert await _live_sessions(session, tree.member.id) == []
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "member.logout_all"))
    assert event is not None
    assert event.target_id == str(tree.member.id)
    # Not one's own account, nor above one's scope.
    assert_problem(
        await client.post(
            f"/api/v1/members/{tree.officer_c1.id}/logout-all",
            headers=await as_actor(tree.officer_c1.id),
        ),
        403,
        "member.own_account",
    )


def test_user_agents_and_places_are_described_when_they_say() -> None:
    assert accounts.describe_agent("SoTayDangVien/2.3.1 (iOS 17.5; iPhone13,2)") == (
        "iOS 17.5; iPhone13,2",
        "SoTayDangVien 2.3.1",
    )
    assert accounts.describe_agent("okhttp/4.12.0") == (None, "okhttp 4.12.0")
    assert accounts.describe_agent(None) == (None, None)
    assert accounts.describe_agent("???") == (None, None)
    assert accounts.coarse_place("192.168.1.5") == "Mạng nội bộ"
    assert accounts.coarse_place("14.160.0.1") is None
    assert accounts.coarse_place("not an ip") is None


@pytest.mark.parametrize("written", ["Sinh ngày 19/05/1980!", "an-1980-05-19-an", "xyz190580xyz"])
async def test_a_password_holding_the_birth_date_is_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    written: str,
) -> None:
    member = await session.get(Member, tree.member.id)
    assert member is not None
    member.date_of_birth = date(1980, 5, 19)
    await session.commit()
    headers = await as_actor(tree.member.id, otp_verified=True)
    response = await client.put(
        "/api/v1/auth/password", json={"new_password": written}, headers=headers
    )
    assert_problem(response, 422, "auth.password_weak")
    accepted = await client.put(
        "/api/v1/auth/password", json={"new_password": "Hoa sen nở giữa đầm 2026"}, headers=headers
    )
    assert accepted.status_code == 204


async def test_logins_show_the_place_looked_up_when_they_start_and_refresh(
    app: FastAPI,
    client: httpx.AsyncClient,
    tree: Tree,
    resources: Resources,
    sms: ConsoleSmsGateway,
    tmp_path: Path,
) -> None:
    database = write_city_db(
        tmp_path / "city.mmdb",
        {
            "203.0.113.0/24": city("Ba Đình", "Hà Nội", "Việt Nam"),
            "198.51.100.0/24": city("Hải Châu", "Đà Nẵng", "Việt Nam"),
        },
    )
    resources.auth.geoip = MaxMindGeoIP(database, ["vi", "en"])
    try:
        tokens = await otp_login(client, sms, tree.member.phone or "")
        listed = await client.get("/api/v1/me/logins", headers=bearer(tokens))
        assert listed.status_code == 200, listed.text
        [login] = listed.json()["items"]
        assert (login["place"], login["city"], login["region"], login["country"]) == (
            "Ba Đình, Hà Nội, Việt Nam",
            "Ba Đình",
            "Hà Nội",
            "Việt Nam",
        )
        # The place is stored with the login: a list reads it, the database is not asked.
        resources.auth.geoip.close()
        resources.auth.geoip = NoGeoIP()
        listed = await client.get("/api/v1/me/logins", headers=bearer(tokens))
        assert listed.json()["items"][0]["city"] == "Ba Đình"
        # A refresh from another address places the login there.
        resources.auth.geoip = MaxMindGeoIP(database, ["vi", "en"])
        elsewhere = httpx.ASGITransport(app=app, client=("198.51.100.9", 50000))
        async with httpx.AsyncClient(transport=elsewhere, base_url="http://test") as moved:
            refreshed = await moved.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            listed = await moved.get("/api/v1/me/logins", headers=bearer(refreshed.json()))
        [login] = listed.json()["items"]
        assert login["place"] == "Hải Châu, Đà Nẵng, Việt Nam"
    finally:
        resources.auth.geoip.close()
        resources.auth.geoip = NoGeoIP()
