"""Login by OTP and password, refresh rotation, logout, token validation."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import PasswordHasher, digest
from app.integrations.sms import ConsoleSmsGateway
from app.models import AuthSession, LoginFailure, Member, OtpChallenge, RefreshToken, RoleGrant
from app.models.base import utcnow
from app.resources import Resources
from tests.conftest import TEST_SECRET, ActorLogin
from tests.factories import Tree, make_member
from tests.http import assert_problem

pytestmark = pytest.mark.usefixtures("tree")

OTP_REQUEST = "/api/v1/auth/otp/request"
OTP_VERIFY = "/api/v1/auth/otp/verify"
PASSWORD_LOGIN = "/api/v1/auth/password/login"
REFRESH = "/api/v1/auth/refresh"


def local(phone: str | None) -> str:
    """+84912345678 → 0912 345 678 (the way members type it)."""
    assert phone is not None
    digits = "0" + phone[3:]
    return f"{digits[:4]} {digits[4:7]} {digits[7:]}"


def last_code(sms: ConsoleSmsGateway) -> str:
    match = re.search(r"\b(\d{6})\b", sms.sent[-1].text)
    assert match, sms.sent[-1].text
    return match.group(1)


def tune(resources: Resources, **values: Any) -> None:
    resources.auth.settings = resources.auth.settings.model_copy(update=values)


async def otp_login(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, phone: str
) -> dict[str, Any]:
    issued = await client.post(OTP_REQUEST, json={"phone": local(phone)})
    assert issued.status_code == 202, issued.text
    response = await client.post(
        OTP_VERIFY, json={"challenge_id": issued.json()["challenge_id"], "code": last_code(sms)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# --- OTP ------------------------------------------------------------------------------------------


async def test_otp_login_issues_tokens_that_open_the_home_screen(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert tokens["token_type"] == "bearer"
    assert 0 < tokens["expires_in"] <= 900
    assert tokens["member_id"] == tree.member.id
    assert sms.sent[-1].to == tree.member.phone
    home = await client.get("/api/v1/me/home", headers=bearer(tokens))
    assert home.status_code == 200
    assert home.json()["member"]["id"] == tree.member.id


async def test_otp_request_answers_unknown_numbers_the_same_and_sends_nothing(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    known = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    unknown = await client.post(OTP_REQUEST, json={"phone": "0987 654 321"})
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert known.json()["expires_in"] == unknown.json()["expires_in"]
    assert [m.to for m in sms.sent] == [tree.member.phone]
    rows = (await session.execute(select(OtpChallenge.phone, OtpChallenge.member_id))).all()
    assert sorted(rows, key=str) == sorted(
        [(tree.member.phone, tree.member.id), ("+84987654321", None)], key=str
    )


async def test_unknown_number_challenge_never_verifies(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway
) -> None:
    issued = await client.post(OTP_REQUEST, json={"phone": "0987654321"})
    for code in ("000000", "123456"):
        response = await client.post(
            OTP_VERIFY, json={"challenge_id": issued.json()["challenge_id"], "code": code}
        )
        assert_problem(response, 401, "auth.otp_invalid")
    assert not sms.sent


@pytest.mark.parametrize(
    "phone", ["12345", "0241234567", "+14155552671", "+447911123456", "not a phone", "0" * 40]
)
async def test_otp_request_refuses_numbers_that_are_not_vietnamese_mobiles(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, session: AsyncSession, phone: str
) -> None:
    response = await client.post(OTP_REQUEST, json={"phone": phone})
    assert_problem(response, 422, "request.invalid")
    assert response.json()["errors"][0]["loc"] == ["body", "phone"]
    assert not sms.sent
    assert await session.scalar(select(OtpChallenge.id)) is None


async def test_second_request_within_cooldown_is_429_with_retry_after(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    first = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    second = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    assert first.status_code == 202
    assert_problem(second, 429, "auth.otp_cooldown")
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert len(sms.sent) == 1


async def test_cooldown_applies_to_unknown_numbers_too(client: httpx.AsyncClient) -> None:
    await client.post(OTP_REQUEST, json={"phone": "0987654321"})
    again = await client.post(OTP_REQUEST, json={"phone": "0987654321"})
    assert_problem(again, 429, "auth.otp_cooldown")


async def test_hourly_send_limit_per_phone(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, resources: Resources, tree: Tree
) -> None:
    tune(resources, otp_cooldown_s=0, otp_per_hour=3)
    statuses = [
        (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    assert len(sms.sent) == 3


async def test_a_number_pumped_all_day_gets_a_code_an_hour_later(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    resources: Resources,
    tree: Tree,
    session: AsyncSession,
) -> None:
    """Someone asked for codes for this number all day: the sliding hour is the only limit, so
    once the last hour holds fewer than the hourly limit, the member gets a code."""
    tune(resources, otp_cooldown_s=0)
    phone = tree.member.phone or ""
    now = utcnow()
    for hours_ago in range(2, 24):
        for n in range(resources.auth.settings.otp_per_hour):
            session.add(
                OtpChallenge(
                    id=f"{hours_ago:02d}{n:02d}".ljust(32, "0"),
                    phone=phone,
                    member_id=tree.member.id,
                    code_hash="0" * 64,
                    created_at=now - timedelta(hours=hours_ago, minutes=n),
                    expires_at=now - timedelta(hours=hours_ago, minutes=n - 5),
                    consumed_at=now - timedelta(hours=hours_ago, minutes=n - 5),
                )
            )
    await session.commit()
    tokens = await otp_login(client, sms, phone)
    assert tokens["member_id"] == tree.member.id


async def test_hourly_send_limit_frees_up_as_the_hour_slides(
    client: httpx.AsyncClient, resources: Resources, tree: Tree, session: AsyncSession
) -> None:
    tune(resources, otp_cooldown_s=0, otp_per_hour=2)
    for _ in range(2):
        assert (
            await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
        ).status_code == 202
    refused = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    assert_problem(refused, 429, "auth.otp_hourly_limit")
    assert 0 < int(refused.headers["retry-after"]) <= 3601
    oldest = await session.scalar(select(func.min(OtpChallenge.created_at)))
    assert oldest is not None
    await session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.created_at == oldest)
        .values(created_at=utcnow() - timedelta(minutes=61))
    )
    await session.commit()
    again = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    assert again.status_code == 202


async def test_requests_per_ip_are_limited(client: httpx.AsyncClient, resources: Resources) -> None:
    tune(resources, otp_requests_per_ip_per_hour=3)
    statuses = [
        (await client.post(OTP_REQUEST, json={"phone": f"098765432{i}"})).status_code
        for i in range(4)
    ]
    assert statuses == [202, 202, 202, 429]


async def test_wrong_codes_are_counted_and_the_fifth_kills_the_code(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    code = last_code(sms)
    wrong = "000000" if code != "000000" else "111111"
    codes = []
    for _ in range(5):
        response = await client.post(
            OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": wrong}
        )
        codes.append(response.json()["code"])
    assert codes == ["auth.otp_invalid"] * 4 + ["auth.otp_too_many_attempts"]
    challenge = await session.get(OtpChallenge, issued["challenge_id"])
    assert challenge is not None
    await session.refresh(challenge)
    assert challenge.attempts == 5
    assert challenge.consumed_at is not None
    late = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": code}
    )
    assert_problem(late, 401, "auth.otp_invalid")


async def test_failures_across_new_codes_lock_the_phone(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, resources: Resources, tree: Tree
) -> None:
    tune(resources, otp_cooldown_s=0, otp_failures_per_hour=6)
    for _ in range(2):
        issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
        wrong = "000000" if last_code(sms) != "000000" else "111111"
        for _ in range(3):
            await client.post(
                OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": wrong}
            )
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    locked = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": last_code(sms)}
    )
    assert_problem(locked, 429, "auth.otp_locked")


async def test_expired_code_is_refused(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    await session.execute(update(OtpChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    response = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": last_code(sms)}
    )
    assert_problem(response, 401, "auth.otp_expired")


async def test_code_works_once(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    body = {"challenge_id": issued["challenge_id"], "code": last_code(sms)}
    assert (await client.post(OTP_VERIFY, json=body)).status_code == 200
    again = await client.post(OTP_VERIFY, json=body)
    assert_problem(again, 401, "auth.otp_invalid")


async def test_new_code_replaces_the_previous_one(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, resources: Resources, tree: Tree
) -> None:
    tune(resources, otp_cooldown_s=0)
    first = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    first_code = last_code(sms)
    await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    stale = await client.post(
        OTP_VERIFY, json={"challenge_id": first["challenge_id"], "code": first_code}
    )
    assert stale.status_code == 401


async def test_codes_are_stored_hashed(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    code = last_code(sms)
    challenge = await session.get(OtpChallenge, issued["challenge_id"])
    assert challenge is not None
    assert code not in challenge.code_hash
    assert len(challenge.code_hash) == 64
    assert code not in json.dumps(issued)


async def test_locked_member_gets_no_sms(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    tree.member.is_locked = True
    await session.commit()
    response = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    assert response.status_code == 202
    assert not sms.sent


@pytest.mark.parametrize(
    "body",
    [
        {"challenge_id": "x", "code": "12345"},
        {"challenge_id": "x", "code": "abcdef"},
        {"challenge_id": "", "code": "123456"},
        {"challenge_id": "x" * 65, "code": "123456"},
        {"challenge_id": "x", "code": "123456", "extra": True},
        {"code": "123456"},
    ],
)
async def test_malformed_verify_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(OTP_VERIFY, json=body)
    assert_problem(response, 422, "request.invalid")


# --- passwords ------------------------------------------------------------------------------------


async def set_password(
    client: httpx.AsyncClient, headers: dict[str, str], new: str, **extra: Any
) -> httpx.Response:
    return await client.put(
        "/api/v1/auth/password", json={"new_password": new, **extra}, headers=headers
    )


async def test_password_can_be_set_after_otp_and_used_to_log_in(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert (await set_password(client, bearer(tokens), "Sổ tay 2026!")).status_code == 204
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "Sổ tay 2026!"}
    )
    assert login.status_code == 200
    assert login.json()["member_id"] == tree.member.id
    me = await client.get("/api/v1/me", headers=bearer(login.json()))
    assert me.json()["has_password"] is True


async def test_wrong_password_and_unknown_phone_get_the_same_answer(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    wrong = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "nope nope"}
    )
    unknown = await client.post(PASSWORD_LOGIN, json={"phone": "0987654321", "password": "x"})
    assert_problem(wrong, 401, "auth.invalid_credentials")
    assert_problem(unknown, 401, "auth.invalid_credentials")
    assert wrong.json()["detail"] == unknown.json()["detail"]
    failures = (await session.scalars(select(LoginFailure.phone))).all()
    assert sorted(failures) == sorted([tree.member.phone or "", "+84987654321"])


async def test_repeated_wrong_passwords_lock_password_login(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    tune(resources, password_failures_before_lock=3)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    body = {"phone": local(tree.member.phone), "password": "wrong guess"}
    statuses = [(await client.post(PASSWORD_LOGIN, json=body)).status_code for _ in range(3)]
    locked = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    assert statuses == [401, 401, 401]
    assert_problem(locked, 429, "auth.password_locked")
    assert int(locked.headers["retry-after"]) > 0


async def test_a_password_lockout_leaves_sms_login_open_and_the_code_lifts_it(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
) -> None:
    """A stranger typing wrong passwords for the number does not keep the member out."""
    tune(resources, password_failures_before_lock=3)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    body = {"phone": local(tree.member.phone), "password": "wrong guess"}
    for _ in range(3):
        await client.post(PASSWORD_LOGIN, json=body)
    right = {"phone": local(tree.member.phone), "password": "correct horse 42"}
    assert (await client.post(PASSWORD_LOGIN, json=right)).status_code == 429
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert tokens["member_id"] == tree.member.id
    # Proving the phone by SMS code wipes the stranger's wrong guesses.
    assert (await client.post(PASSWORD_LOGIN, json=right)).status_code == 200


async def test_a_wrong_code_lockout_leaves_password_login_open(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tune(resources, otp_cooldown_s=0, otp_failures_per_hour=3)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    wrong = "000000" if last_code(sms) != "000000" else "111111"
    for _ in range(3):
        await client.post(OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": wrong})
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    locked = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": last_code(sms)}
    )
    assert_problem(locked, 429, "auth.otp_locked")
    assert 0 < int(locked.headers["retry-after"]) <= 3600
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    assert login.status_code == 200


async def test_a_member_with_a_live_login_is_never_locked_out(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
) -> None:
    """Every per-phone limit is hit at once: the member's app keeps working on its refresh token."""
    tokens = await otp_login(client, sms, tree.member.phone or "")
    tune(
        resources,
        otp_cooldown_s=0,
        otp_per_hour=2,
        otp_failures_per_hour=2,
        password_failures_before_lock=3,
    )
    phone = local(tree.member.phone)
    for _ in range(3):
        await client.post(PASSWORD_LOGIN, json={"phone": phone, "password": "wrong guess"})
    for _ in range(3):
        issued = await client.post(OTP_REQUEST, json={"phone": phone})
        if issued.status_code == 202:
            body = {"challenge_id": issued.json()["challenge_id"], "code": "000000"}
            await client.post(OTP_VERIFY, json=body)
    assert (await client.post(OTP_REQUEST, json={"phone": phone})).status_code == 429
    assert (
        await client.post(PASSWORD_LOGIN, json={"phone": phone, "password": "x"})
    ).status_code == 429
    for _ in range(3):
        refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        tokens = refreshed.json()
        assert (await client.get("/api/v1/me/home", headers=bearer(tokens))).status_code == 200


async def test_locked_account_cannot_log_in_with_the_right_password(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    tree.member.is_locked = True
    await session.commit()
    response = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    assert_problem(response, 403, "auth.account_locked")


@pytest.mark.parametrize(
    ("weak", "code"),
    [
        ("12345678", "auth.password_weak"),
        ("aaaaaaaa", "auth.password_weak"),
        ("short", "request.invalid"),
    ],
)
async def test_weak_passwords_are_refused(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    weak: str,
    code: str,
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert_problem(await set_password(client, bearer(tokens), weak), 422, code)
    await session.refresh(tree.member)
    assert tree.member.password_hash is None


async def test_password_containing_the_phone_number_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    phone_digits = (tree.member.phone or "")[3:]
    headers = await as_actor(tree.member.id, otp_verified=True)
    response = await set_password(client, headers, f"x{phone_digits}x")
    assert_problem(response, 422, "auth.password_weak")


async def test_changing_a_password_needs_the_current_one(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    headers = await as_actor(tree.member.id)
    missing = await set_password(client, headers, "brand new secret 1")
    wrong = await set_password(client, headers, "brand new secret 1", current_password="nope")
    right = await set_password(
        client, headers, "brand new secret 1", current_password="correct horse 42"
    )
    assert_problem(missing, 403, "auth.step_up_required")
    assert_problem(wrong, 403, "auth.wrong_password")
    assert right.status_code == 204
    phone = local(tree.member.phone)
    old = await client.post(PASSWORD_LOGIN, json={"phone": phone, "password": "correct horse 42"})
    assert_problem(old, 401, "auth.invalid_credentials")
    new = await client.post(PASSWORD_LOGIN, json={"phone": phone, "password": "brand new secret 1"})
    assert new.status_code == 200


async def test_new_password_ends_other_sessions_but_not_this_one(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    resources: Resources,
) -> None:
    tune(resources, otp_cooldown_s=0)
    other = await otp_login(client, sms, tree.member.phone or "")
    this = await otp_login(client, sms, tree.member.phone or "")
    assert (await set_password(client, bearer(this), "brand new secret 1")).status_code == 204
    assert (await client.get("/api/v1/me/home", headers=bearer(this))).status_code == 200
    ended = await client.get("/api/v1/me/home", headers=bearer(other))
    assert_problem(ended, 401, "auth.session_revoked")
    refreshed = await client.post(REFRESH, json={"refresh_token": other["refresh_token"]})
    assert_problem(refreshed, 401, "auth.session_revoked")
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "brand new secret 1"}
    )
    assert login.status_code == 200


async def test_an_access_token_alone_cannot_set_a_first_password(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    """A stolen access token must not become a permanent account."""
    response = await set_password(client, await as_actor(tree.member.id), "attacker's secret 1")
    assert_problem(response, 403, "auth.step_up_required")
    await session.refresh(tree.member)
    assert tree.member.password_hash is None


async def test_an_otp_login_grows_stale_for_setting_a_password(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    stale = utcnow() - timedelta(seconds=resources.auth.settings.step_up_ttl_s + 1)
    await session.execute(update(AuthSession).values(otp_verified_at=stale))
    await session.commit()
    response = await set_password(client, bearer(tokens), "Sổ tay 2026!")
    assert_problem(response, 403, "auth.step_up_required")


async def test_an_otp_login_replaces_a_forgotten_password_and_ends_other_logins(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
    as_actor: ActorLogin,
) -> None:
    """Someone set a password behind the member's back: proving the phone takes it back."""
    tree.member.password_hash = await resources.auth.hasher.hash("the intruder's one 9")
    await session.commit()
    intruder = await as_actor(tree.member.id)
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert (await set_password(client, bearer(tokens), "Sổ tay 2026!")).status_code == 204
    assert (await client.get("/api/v1/me/home", headers=intruder)).status_code == 401
    assert (await client.get("/api/v1/me/home", headers=bearer(tokens))).status_code == 200
    old = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "the intruder's one 9"}
    )
    new = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "Sổ tay 2026!"}
    )
    assert old.status_code == 401
    assert new.status_code == 200


async def test_the_otp_step_up_sets_one_password(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert (await set_password(client, bearer(tokens), "Sổ tay 2026!")).status_code == 204
    again = await set_password(client, bearer(tokens), "Sổ tay 2027!")
    assert_problem(again, 403, "auth.step_up_required")
    # Knowing the current password is enough for a change.
    changed = await set_password(
        client, bearer(tokens), "Sổ tay 2027!", current_password="Sổ tay 2026!"
    )
    assert changed.status_code == 204


async def test_a_password_login_is_no_step_up(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    response = await set_password(client, bearer(login.json()), "brand new secret 1")
    assert_problem(response, 403, "auth.step_up_required")


async def test_password_hash_is_upgraded_when_parameters_rise(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    weaker = PasswordHasher(resources.settings.auth.model_copy(update={"argon2_time_cost": 2}))
    stronger = resources.settings.auth.model_copy(update={"argon2_time_cost": 3})
    resources.auth.hasher = PasswordHasher(stronger)
    tree.member.password_hash = await weaker.hash("correct horse 42")
    await session.commit()
    response = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    assert response.status_code == 200
    await session.refresh(tree.member)
    assert tree.member.password_hash is not None
    assert "t=3" in tree.member.password_hash


async def test_long_and_unicode_passwords_work(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    password = "Đảng viên ưu tú " * 7  # 112 characters, well over bcrypt's 72 bytes
    headers = await as_actor(tree.member.id, otp_verified=True)
    assert (await set_password(client, headers, password)).status_code == 204
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": password}
    )
    assert login.status_code == 200


# --- refresh, logout ------------------------------------------------------------------------------


async def test_refresh_rotates_and_a_reused_token_ends_the_family(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    first = await otp_login(client, sms, tree.member.phone or "")
    second = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert_problem(reused, 401, "auth.refresh_reused")
    # The whole family is gone: the newest refresh token and the access tokens too.
    newest = await client.post(REFRESH, json={"refresh_token": second.json()["refresh_token"]})
    assert newest.status_code == 401
    assert (await client.get("/api/v1/me/home", headers=bearer(second.json()))).status_code == 401
    revoked = await session.scalar(
        select(AuthSession.revoke_reason).where(AuthSession.member_id == tree.member.id)
    )
    assert revoked == "refresh_reuse"


async def test_refresh_tokens_are_stored_hashed(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    stored = (await session.scalars(select(RefreshToken.token_hash))).all()
    assert stored == [digest(tokens["refresh_token"])]
    assert tokens["refresh_token"] not in stored


@pytest.mark.parametrize("token", ["garbage", "x" * 256])
async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post(REFRESH, json={"refresh_token": token})
    assert_problem(response, 401, "auth.refresh_invalid")


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    await session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()
    response = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert_problem(response, 401, "auth.session_expired")


async def test_logout_ends_this_session_at_once(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert (await client.post("/api/v1/auth/logout", headers=bearer(tokens))).status_code == 204
    assert (await client.get("/api/v1/me/home", headers=bearer(tokens))).status_code == 401
    refresh = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


async def test_logout_everywhere_ends_every_session(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, resources: Resources
) -> None:
    tune(resources, otp_cooldown_s=0)
    phone = await otp_login(client, sms, tree.member.phone or "")
    tablet = await otp_login(client, sms, tree.member.phone or "")
    out = await client.post("/api/v1/auth/logout-all", headers=bearer(phone))
    assert out.status_code == 204
    for tokens in (phone, tablet):
        ended = await client.get("/api/v1/me/home", headers=bearer(tokens))
        assert_problem(ended, 401, "auth.session_revoked")
        refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert_problem(refreshed, 401, "auth.session_revoked")


async def test_only_the_newest_sessions_are_kept(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, resources: Resources
) -> None:
    tune(resources, otp_cooldown_s=0, max_sessions=2)
    logins = [await otp_login(client, sms, tree.member.phone or "") for _ in range(3)]
    statuses = [
        (await client.get("/api/v1/me/home", headers=bearer(t))).status_code for t in logins
    ]
    assert statuses == [401, 200, 200]


# --- bearer tokens --------------------------------------------------------------------------------


def _claims(member_id: int, session_id: str, **overrides: Any) -> dict[str, Any]:
    now = utcnow()
    claims = {
        "iss": "handbook",
        "aud": "handbook-app",
        "sub": str(member_id),
        "sid": session_id,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    claims.update(overrides)
    return claims


async def _live_session(as_actor: ActorLogin, session: AsyncSession, member_id: int) -> str:
    await as_actor(member_id)
    sid = await session.scalar(select(AuthSession.id).where(AuthSession.member_id == member_id))
    assert sid is not None
    return sid


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("case", "expected_code"),
    [
        ("expired", "auth.token_expired"),
        ("wrong_issuer", "auth.token_invalid"),
        ("issuer_prefix", "auth.token_invalid"),
        ("wrong_audience", "auth.token_invalid"),
        ("wrong_type", "auth.token_invalid"),
        ("hs512", "auth.token_invalid"),
        ("other_key", "auth.token_invalid"),
        ("alg_none", "auth.token_invalid"),
        ("tampered", "auth.token_invalid"),
        ("garbage", "auth.token_invalid"),
        ("long_lived", "auth.token_invalid"),
        ("issued_in_the_future", "auth.token_invalid"),
        ("unknown_session", "auth.session_revoked"),
    ],
)
async def test_bad_bearer_tokens_are_401(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    case: str,
    expected_code: str,
) -> None:
    sid = await _live_session(as_actor, session, tree.member.id)
    good = jwt.encode(_claims(tree.member.id, sid), TEST_SECRET, algorithm="HS256")
    past = int((utcnow() - timedelta(minutes=10)).timestamp())
    tokens = {
        "expired": jwt.encode(_claims(tree.member.id, sid, exp=past), TEST_SECRET, "HS256"),
        "wrong_issuer": jwt.encode(_claims(tree.member.id, sid, iss="other"), TEST_SECRET, "HS256"),
        "issuer_prefix": jwt.encode(
            _claims(tree.member.id, sid, iss="handbook.evil"), TEST_SECRET, "HS256"
        ),
        "wrong_audience": jwt.encode(_claims(tree.member.id, sid, aud="x"), TEST_SECRET, "HS256"),
        "wrong_type": jwt.encode(_claims(tree.member.id, sid, typ="refresh"), TEST_SECRET, "HS256"),
        "hs512": jwt.encode(_claims(tree.member.id, sid), TEST_SECRET, algorithm="HS512"),
        "other_key": jwt.encode(_claims(tree.member.id, sid), "k" * 48, algorithm="HS256"),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(tree.member.id, sid))}.",
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "garbage": "not.a.jwt",
        # Signed with our key, but living longer than any token we issue (a leaked key, or a
        # bug elsewhere): refused.
        "long_lived": jwt.encode(
            _claims(tree.member.id, sid, exp=int((utcnow() + timedelta(days=30)).timestamp())),
            TEST_SECRET,
            "HS256",
        ),
        "issued_in_the_future": jwt.encode(
            _claims(
                tree.member.id,
                sid,
                iat=int((utcnow() + timedelta(days=1)).timestamp()),
                exp=int((utcnow() + timedelta(days=1, minutes=5)).timestamp()),
            ),
            TEST_SECRET,
            "HS256",
        ),
        "unknown_session": jwt.encode(_claims(tree.member.id, "f" * 32), TEST_SECRET, "HS256"),
    }
    assert (
        await client.get("/api/v1/me/home", headers={"Authorization": f"Bearer {good}"})
    ).status_code == 200
    response = await client.get(
        "/api/v1/me/home", headers={"Authorization": f"Bearer {tokens[case]}"}
    )
    assert_problem(response, 401, expected_code)
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_a_refresh_token_is_not_a_bearer_token(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree
) -> None:
    tokens = await otp_login(client, sms, tree.member.phone or "")
    response = await client.get(
        "/api/v1/me/home", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert response.status_code == 401


async def test_token_of_another_member_session_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    sid = await _live_session(as_actor, session, tree.member.id)
    forged = jwt.encode(_claims(tree.secretary.id, sid), TEST_SECRET, algorithm="HS256")
    response = await client.get("/api/v1/me/home", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_locking_a_member_takes_effect_at_once(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tune(resources, otp_cooldown_s=0)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    password = {"phone": local(tree.member.phone), "password": "correct horse 42"}
    tokens = await otp_login(client, sms, tree.member.phone or "")
    assert (await client.get("/api/v1/me/home", headers=bearer(tokens))).status_code == 200
    officer = await as_actor(tree.officer_c1.id)
    locked = await client.post(f"/api/v1/members/{tree.member.id}/lock", headers=officer)
    assert locked.status_code == 200
    assert locked.json()["is_locked"] is True
    # The live login ends (access and refresh token), and no new one starts.
    after = await client.get("/api/v1/me/home", headers=bearer(tokens))
    assert_problem(after, 401, "auth.session_revoked")
    refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refreshed, 401, "auth.session_revoked")
    assert_problem(await client.post(PASSWORD_LOGIN, json=password), 403, "auth.account_locked")
    sent = len(sms.sent)
    issued = await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})
    assert issued.status_code == 202
    assert len(sms.sent) == sent  # a locked member gets no code to log in with
    verified = await client.post(
        OTP_VERIFY, json={"challenge_id": issued.json()["challenge_id"], "code": "000000"}
    )
    assert_problem(verified, 401, "auth.otp_invalid")
    unlocked = await client.post(f"/api/v1/members/{tree.member.id}/unlock", headers=officer)
    assert unlocked.json()["is_locked"] is False
    login = await client.post(PASSWORD_LOGIN, json=password)
    assert login.status_code == 200, login.text
    assert (await client.get("/api/v1/me/home", headers=bearer(login.json()))).status_code == 200


async def test_revoking_a_role_takes_effect_at_once(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    secretary = await as_actor(tree.secretary.id)
    url = f"/api/v1/members/{tree.member.id}"
    assert (await client.get(url, headers=secretary)).status_code == 200
    grant_id = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.member_id == tree.secretary.id)
    )
    officer = await as_actor(tree.officer_c1.id)
    assert (await client.delete(f"/api/v1/roles/{grant_id}", headers=officer)).status_code == 204
    after = await client.get(url, headers=secretary)
    assert_problem(after, 403, "scope.forbidden")
    grant = await session.get(RoleGrant, grant_id, populate_existing=True)
    assert grant is not None
    assert grant.revoked_at is not None
    assert grant.revoked_by_id == tree.officer_c1.id
    me = (await client.get("/api/v1/me", headers=secretary)).json()
    assert "secretary" not in [held["role"] for held in me["roles"]]


async def test_login_of_member_added_later_works(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, session: AsyncSession
) -> None:
    newcomer = await make_member(session, tree.b3, full_name="Lý Thị Mới", phone="+84971112233")
    await session.commit()
    tokens = await otp_login(client, sms, "+84971112233")
    assert tokens["member_id"] == newcomer.id
    assert isinstance(await session.get(Member, newcomer.id), Member)


async def test_unknown_numbers_lock_out_like_members(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, resources: Resources
) -> None:
    tune(resources, password_failures_before_lock=3)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    answers = {}
    for phone in (local(tree.member.phone), "0987 654 321"):
        codes = [
            (await client.post(PASSWORD_LOGIN, json={"phone": phone, "password": "guess"})).json()[
                "code"
            ]
            for _ in range(4)
        ]
        answers[phone] = codes
    expected = ["auth.invalid_credentials"] * 3 + ["auth.password_locked"]
    assert list(answers.values()) == [expected, expected]


async def test_guessing_the_current_password_locks_like_a_login(
    client: httpx.AsyncClient,
    tree: Tree,
    session: AsyncSession,
    resources: Resources,
    as_actor: ActorLogin,
) -> None:
    tune(resources, password_failures_before_lock=3)
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    headers = await as_actor(tree.member.id)
    statuses = [
        (
            await set_password(client, headers, "brand new secret 1", current_password="guess")
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [403, 403, 403, 429]
    login = await client.post(
        PASSWORD_LOGIN, json={"phone": local(tree.member.phone), "password": "correct horse 42"}
    )
    assert_problem(login, 429, "auth.password_locked")
    await session.refresh(tree.member)
    kept, _ = await resources.auth.hasher.verify("correct horse 42", tree.member.password_hash)
    assert kept


async def test_a_code_sent_before_a_phone_change_no_longer_works(
    client: httpx.AsyncClient, sms: ConsoleSmsGateway, tree: Tree, as_actor: ActorLogin
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    code = last_code(sms)
    changed = await client.patch(
        f"/api/v1/members/{tree.member.id}",
        json={"phone": "0977 000 111"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert changed.status_code == 200
    stale = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": code}
    )
    assert_problem(stale, 401, "auth.otp_invalid")


async def test_locking_closes_codes_already_sent(
    client: httpx.AsyncClient,
    sms: ConsoleSmsGateway,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
) -> None:
    issued = (await client.post(OTP_REQUEST, json={"phone": local(tree.member.phone)})).json()
    code = last_code(sms)
    officer = await as_actor(tree.officer_c1.id)
    locked = await client.post(f"/api/v1/members/{tree.member.id}/lock", headers=officer)
    assert locked.json()["is_locked"] is True
    challenge = await session.get(OtpChallenge, issued["challenge_id"])
    assert challenge is not None
    await session.refresh(challenge)
    assert challenge.consumed_at is not None
    # Unlocked again, the code sent before the lock still does not log in.
    await client.post(f"/api/v1/members/{tree.member.id}/unlock", headers=officer)
    verify = await client.post(
        OTP_VERIFY, json={"challenge_id": issued["challenge_id"], "code": code}
    )
    assert_problem(verify, 401, "auth.otp_invalid")
