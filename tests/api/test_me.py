from __future__ import annotations

import httpx

from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


async def test_home_shows_member_branch_and_roles(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get("/api/v1/me/home", headers=await as_actor(tree.secretary.id))
    assert response.status_code == 200
    body = response.json()
    assert body["member"] == {
        "id": tree.secretary.id,
        "full_name": "Lê Thị Bình",
        "phone": tree.secretary.phone,
        "status": "full",
        "is_exempt": False,
    }
    assert body["branch"] == {"id": tree.b1.id, "name": "Chi bộ Khu phố 1", "kind": "branch"}
    assert [(r["role"], r["org"]["id"]) for r in body["roles"]] == [("secretary", tree.b1.id)]


async def test_me_returns_full_profile(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get("/api/v1/me", headers=await as_actor(tree.officer_c1.id))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == tree.officer_c1.id
    assert body["branch"]["id"] == tree.b2.id
    assert body["party_card_number"] == tree.officer_c1.party_card_number
    assert [r["role"] for r in body["roles"]] == ["organisation_officer"]
    assert body["has_password"] is False


async def test_home_without_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me/home")
    assert_problem(response, 401, "auth.unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
