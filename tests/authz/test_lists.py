"""Lists never leak: whatever a role pages through stays inside what it may see."""

from __future__ import annotations

import httpx
import pytest

from tests.authz.harness import ROLES
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import collect

pytestmark = pytest.mark.authz

# Where each role's member directory reaches.
VISIBLE_MEMBERS = {
    "member": "b1",
    "secretary": "b1",
    "deputy": "b1",
    "committee": "c1",
    "officer_c1": "c1",
    "officer_root": "p",
    "admin": "p",
}


@pytest.mark.parametrize("role", sorted(VISIBLE_MEMBERS))
async def test_member_lists_stay_inside_scope(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, role: str
) -> None:
    headers = await as_actor(getattr(tree, role).id)
    scope_root = getattr(tree, VISIBLE_MEMBERS[role])
    branch_paths = {b.id: b.path for b in (tree.b1, tree.b2, tree.b3, tree.b4)}
    for org in (tree.p, tree.c1, tree.c2, tree.b1, tree.b2, tree.b4):
        url = f"/api/v1/orgs/{org.id}/members"
        if not org.path.startswith(scope_root.path):
            response = await client.get(url, headers=headers)
            assert response.status_code in {403, 404}, (role, org.name)
            continue
        items = await collect(client, url, headers, page_size=3)
        assert items, (role, org.name)
        for item in items:
            assert branch_paths[item["branch_id"]].startswith(scope_root.path)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
async def test_org_search_stays_inside_scope(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, role: str
) -> None:
    headers = await as_actor(getattr(tree, role).id)
    c1_view = {tree.c1.id, tree.b1.id, tree.b2.id, tree.g1.id, tree.b3.id}
    allowed = {
        "member": {tree.b1.id},
        "secretary": {tree.b1.id},
        "deputy": {tree.b1.id},
        "committee": c1_view,
        "officer_c1": c1_view,
        "approver": c1_view,
    }.get(role)
    for query in ("chi bo", "dang", "hoa binh", "tan lap", "thon"):
        found = {
            item["id"] for item in await collect(client, "/api/v1/orgs", headers, {"q": query})
        }
        if allowed is not None:
            assert found <= allowed, (role, query, found)


@pytest.mark.parametrize("role", ["member", "secretary", "officer_c1"])
async def test_phone_numbers_are_for_leadership(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, role: str
) -> None:
    headers = await as_actor(getattr(tree, role).id)
    items = await collect(client, f"/api/v1/orgs/{tree.b1.id}/members", headers)
    phones = {item["id"]: item["phone"] for item in items}
    if role == "member":
        assert set(phones.values()) == {None}
        # Nor can a plain member find someone by number.
        by_number = await client.get(
            f"/api/v1/orgs/{tree.b1.id}/members",
            params={"q": (tree.secretary.phone or "")[-9:]},
            headers=headers,
        )
        assert by_number.json()["items"] == []
    else:
        assert phones[tree.secretary.id] == tree.secretary.phone
