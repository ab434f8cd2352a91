"""Members: the directory in Vietnamese order, search, create, edit, lock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import encode_cursor
from app.models import AuditEvent, AuthSession, Member
from app.resources import Resources
from app.schemas.common import Page
from app.schemas.member import MemberSummary
from tests.conftest import ActorLogin
from tests.factories import Tree, make_member
from tests.http import assert_problem, collect


async def test_branch_members_are_in_vietnamese_name_order(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for name in ("Nguyễn Thị Yến", "Trần An", "Lê Văn Anh", "Đỗ Thị Ánh"):
        await make_member(session, tree.b1, full_name=name)
    await session.commit()
    secretary = await as_actor(tree.secretary.id)
    items = await collect(client, f"/api/v1/orgs/{tree.b1.id}/members", secretary)
    names = [i["full_name"] for i in items]
    # Given name first; on a tie the family name decides ("anh do" before "anh le").
    assert names == [
        "Nguyễn Văn An",  # an nguyen van
        "Trần An",  # an tran
        "Đỗ Thị Ánh",  # anh do thi
        "Lê Văn Anh",  # anh le van
        "Lê Thị Bình",
        "Trần Văn Cụ",
        "Phạm Thị Dung",
        "Mai Văn Phó",
        "Nguyễn Thị Yến",
    ]
    assert len({i["id"] for i in items}) == 9
    # Written from plain values (`plain_json`): exactly what the documented model would write,
    # phone numbers included (the secretary sees them) and the page's cursor.
    page = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/members", params={"limit": 2}, headers=secretary
    )
    body = page.json()
    assert page.headers["content-type"] == "application/json"
    assert body["next_cursor"]
    assert any(item["phone"] for item in items)
    assert Page[MemberSummary].model_validate(body).model_dump(mode="json") == body


async def test_order_is_given_name_then_family_name(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for name in ("Trần Văn Bảo", "Lê Bảo", "Nguyễn Thị Ánh"):
        await make_member(session, tree.b4, full_name=name)
    await session.commit()
    response = await client.get(
        f"/api/v1/orgs/{tree.b4.id}/members",
        params={"limit": 100},
        headers=await as_actor(tree.officer_root.id),
    )
    names = [i["full_name"] for i in response.json()["items"]]
    assert names.index("Nguyễn Thị Ánh") < names.index("Lê Bảo") < names.index("Trần Văn Bảo")


async def test_subtree_listing_covers_every_branch_below(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    items = await collect(
        client, f"/api/v1/orgs/{tree.c1.id}/members", await as_actor(tree.officer_c1.id)
    )
    assert {i["branch_id"] for i in items} == {tree.b1.id, tree.b2.id, tree.b3.id}
    assert tree.outsider.id not in {i["id"] for i in items}
    assert len(items) == 10  # B1: 5, B2: 3, B3: 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("nguyen van an", ["Nguyễn Văn An"]),
        ("NGUYỄN VĂN AN", ["Nguyễn Văn An"]),
        ("duc", ["Hoàng Minh Đức"]),
        ("đức", ["Hoàng Minh Đức"]),
        ("an nguyen", ["Nguyễn Văn An"]),
        ("giang", ["Đỗ Văn Giang"]),
        ("zzz", []),
    ],
)
async def test_search_by_name_ignores_diacritics(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, query: str, expected: list[str]
) -> None:
    response = await client.get(
        f"/api/v1/orgs/{tree.c1.id}/members",
        params={"q": query},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert [i["full_name"] for i in response.json()["items"]] == expected


async def test_search_by_phone_in_local_form(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    local = "0" + (tree.teacher.phone or "")[3:]
    response = await client.get(
        f"/api/v1/orgs/{tree.p.id}/members",
        params={"q": local},
        headers=await as_actor(tree.officer_root.id),
    )
    assert [i["id"] for i in response.json()["items"]] == [tree.teacher.id]


async def test_filters_by_status_and_exemption(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.secretary.id)
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    probationary = await client.get(url, params={"status": "probationary"}, headers=headers)
    exempt = await client.get(url, params={"is_exempt": "true"}, headers=headers)
    assert [i["id"] for i in probationary.json()["items"]] == [tree.probationary.id]
    assert [i["id"] for i in exempt.json()["items"]] == [tree.exempt.id]
    assert exempt.json()["items"][0]["is_exempt"] is True


async def test_paging_through_a_large_branch_returns_each_member_once(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for i in range(45):
        await make_member(session, tree.b2, full_name=f"Nguyễn Văn Số{i:02d}")
    await session.commit()
    headers = await as_actor(tree.officer_c1.id)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"/api/v1/orgs/{tree.b2.id}/members", params=params, headers=headers)
        ).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 48  # the 45 and officer_c1, committee, editor


async def test_officer_adds_a_member_with_a_local_phone(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={
            "full_name": "  Vũ  Thị   Lan ",
            "phone": "0912 345 678",
            "party_card_number": "01.000123",
            "status": "full",
            "date_of_birth": "1990-03-08",
            "joined_date": "2015-05-19",
            "official_date": "2016-05-19",
            "gender": "female",
        },
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["full_name"] == "Vũ Thị Lan"
    assert body["phone"] == "+84912345678"
    assert body["branch"]["id"] == tree.b1.id
    assert body["has_password"] is False
    found = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/members",
        params={"q": "vu thi lan"},
        headers=await as_actor(tree.secretary.id),
    )
    assert [i["id"] for i in found.json()["items"]] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"full_name": "Người Trùng Số", "phone": "PHONE"}, "member.phone_taken"),
        ({"full_name": "Người Trùng Thẻ", "party_card_number": "CARD"}, "member.card_number_taken"),
    ],
)
async def test_phone_and_card_number_are_unique(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    body: dict[str, Any],
    code: str,
) -> None:
    body = {
        k: (
            tree.member.phone
            if v == "PHONE"
            else tree.member.party_card_number
            if v == "CARD"
            else v
        )
        for k, v in body.items()
    }
    before = await session.scalar(select(func.count()).select_from(Member))
    response = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/members", json=body, headers=await as_actor(tree.officer_c1.id)
    )
    assert_problem(response, 409, code)
    assert await session.scalar(select(func.count()).select_from(Member)) == before


async def test_members_belong_to_branches_only(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/members",
        json={"full_name": "Nguyễn Văn Mới"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 422, "member.org_not_branch")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"status": "probationary", "official_date": "2020-01-01"},
            "member.probationary_has_official_date",
        ),
        (
            {"joined_date": "2020-01-01", "official_date": "2019-01-01"},
            "member.official_before_joined",
        ),
        (
            {"date_of_birth": "2000-01-01", "joined_date": "1999-01-01"},
            "member.joined_before_birth",
        ),
    ],
)
async def test_inconsistent_dates_are_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    body: dict[str, Any],
    code: str,
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": "Nguyễn Văn Mới", **body},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 422, code)
    created = await session.scalar(select(Member.id).where(Member.full_name == "Nguyễn Văn Mới"))
    assert created is None


async def test_edit_renames_and_reorders(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    response = await client.patch(
        f"/api/v1/members/{tree.member.id}",
        json={"full_name": "Nguyễn Văn Zũng", "is_exempt": True, "exempt_since": "2024-01-01"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 200
    assert response.json()["is_exempt"] is True
    stored = await session.get(Member, tree.member.id)
    assert stored is not None
    await session.refresh(stored)
    assert stored.sort_key == "zung nguyen van"
    assert stored.name_folded == "nguyen van zung"


@pytest.mark.parametrize("field", ["full_name", "status", "is_exempt"])
async def test_required_fields_cannot_be_cleared(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, field: str
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.member.id}"
    before = (await client.get(url, headers=headers)).json()
    response = await client.patch(
        url, json={field: None, "date_of_birth": "1970-05-06"}, headers=headers
    )
    body = assert_problem(response, 422, "request.invalid")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["body", field], "null_forbidden")]
    after = (await client.get(url, headers=headers)).json()
    assert after == before  # the date sent alongside was not applied either


async def test_new_phone_ends_the_members_sessions(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    member_headers = await as_actor(tree.member.id)
    response = await client.patch(
        f"/api/v1/members/{tree.member.id}",
        json={"phone": "+84 977 000 111"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 200
    assert response.json()["phone"] == "+84977000111"
    ended = await client.get("/api/v1/me/home", headers=member_headers)
    assert_problem(ended, 401, "auth.session_revoked")
    reasons = (
        await session.scalars(
            select(AuthSession.revoke_reason).where(AuthSession.member_id == tree.member.id)
        )
    ).all()
    assert reasons == ["phone_changed"]


async def test_members_read_their_own_details_but_not_others(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.member.id)
    own = await client.get(f"/api/v1/members/{tree.member.id}", headers=headers)
    peer = await client.get(f"/api/v1/members/{tree.secretary.id}", headers=headers)
    stranger = await client.get(f"/api/v1/members/{tree.outsider.id}", headers=headers)
    assert own.json()["id"] == tree.member.id
    assert_problem(peer, 403, "scope.forbidden")
    assert_problem(stranger, 404, "member.not_found")


async def test_unlock_restores_login(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("correct horse 42")
    await session.commit()
    credentials = {"phone": tree.member.phone, "password": "correct horse 42"}
    officer = await as_actor(tree.officer_c1.id)
    locked = await client.post(f"/api/v1/members/{tree.member.id}/lock", headers=officer)
    assert locked.status_code == 200
    assert locked.json()["is_locked"] is True
    refused = await client.post("/api/v1/auth/password/login", json=credentials)
    assert_problem(refused, 403, "auth.account_locked")
    unlocked = await client.post(f"/api/v1/members/{tree.member.id}/unlock", headers=officer)
    assert unlocked.status_code == 200
    assert unlocked.json()["is_locked"] is False
    login = await client.post("/api/v1/auth/password/login", json=credentials)
    assert login.status_code == 200, login.text
    home = await client.get(
        "/api/v1/me/home", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert home.status_code == 200
    audited = (
        await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == str(tree.member.id))
            .order_by(AuditEvent.id)
        )
    ).all()
    assert audited == ["member.lock", "member.unlock"]


async def test_an_officer_resets_a_members_password_and_ends_every_login(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    tree.member.password_hash = await resources.auth.hasher.hash("set by an intruder 7")
    await session.commit()
    phone_login = await as_actor(tree.member.id)
    tablet_login = await as_actor(tree.member.id, otp_verified=True)
    officer = await as_actor(tree.officer_c1.id)
    reset = await client.post(f"/api/v1/members/{tree.member.id}/password-reset", headers=officer)
    assert reset.status_code == 200
    assert reset.json()["has_password"] is False
    stored = await session.scalar(select(Member.password_hash).where(Member.id == tree.member.id))
    assert stored is None
    for headers in (phone_login, tablet_login):
        ended = await client.get("/api/v1/me/home", headers=headers)
        assert_problem(ended, 401, "auth.session_revoked")
    reasons = (
        await session.scalars(
            select(AuthSession.revoke_reason).where(AuthSession.member_id == tree.member.id)
        )
    ).all()
    assert set(reasons) == {"password_reset"}
    audited = (
        await session.execute(
            select(AuditEvent.actor_id, AuditEvent.target_id, AuditEvent.org_id).where(
                AuditEvent.action == "member.password_reset"
            )
        )
    ).all()
    assert audited == [(tree.officer_c1.id, str(tree.member.id), tree.b1.id)]
    login = await client.post(
        "/api/v1/auth/password/login",
        json={"phone": tree.member.phone, "password": "set by an intruder 7"},
    )
    assert_problem(login, 401, "auth.invalid_credentials")


async def test_a_secretary_cannot_reset_a_password(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/password-reset",
        headers=await as_actor(tree.secretary.id),
    )
    assert_problem(response, 403, "scope.forbidden")


async def test_an_officer_cannot_take_over_a_higher_role_holder(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # The editor sits in branch B2 (under C1) but holds a role on the province P: neither the
    # commune officer nor the province officer (same level) outranks it; the admin does.
    url = f"/api/v1/members/{tree.editor.id}"
    for officer_id in (tree.officer_c1.id, tree.officer_root.id):
        officer = await as_actor(officer_id)
        for method, path, body in (
            ("PATCH", url, {"phone": "0977 000 111"}),
            ("POST", f"{url}/lock", None),
            ("POST", f"{url}/unlock", None),
            ("POST", f"{url}/password-reset", None),
        ):
            response = await client.request(method, path, json=body, headers=officer)
            assert_problem(response, 403, "member.holds_higher_role")
        assert (await client.get(url, headers=officer)).status_code == 200
    editor = await session.get(Member, tree.editor.id, populate_existing=True)
    assert editor is not None
    assert editor.phone != "+84977000111"
    assert not editor.is_locked
    admin = await as_actor(tree.admin.id)
    changed = await client.patch(url, json={"phone": "0977 000 111"}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["phone"] == "+84977000111"


async def test_nul_characters_are_refused_at_the_edge(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    search = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/members", params={"q": "an\x00"}, headers=headers
    )
    body = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": "Nguyễn\x00 Văn"},
        headers=headers,
    )
    cursor = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/members",
        params={"cursor": encode_cursor("members", ["a\x00", 1])},
        headers=headers,
    )
    assert search.status_code == body.status_code == 422
    assert cursor.status_code == 400


async def test_names_that_grow_when_folded_are_stored(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": "한" * 200},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 201, response.text
