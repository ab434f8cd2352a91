"""The org tree: reading, search (diacritics ignored, scoped), create, rename, pagination."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import encode_cursor
from app.models import OrgKind
from tests.conftest import ActorLogin
from tests.factories import Tree, make_org
from tests.http import assert_problem, collect


async def test_org_has_breadcrumbs_and_child_count(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get(
        f"/api/v1/orgs/{tree.b3.id}", headers=await as_actor(tree.officer_c1.id)
    )
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["ancestors"]] == [tree.p.id, tree.c1.id, tree.g1.id]
    assert body["depth"] == 3
    assert body["child_count"] == 0
    assert body["kind"] == "branch"
    c1 = await client.get(f"/api/v1/orgs/{tree.c1.id}", headers=await as_actor(tree.officer_c1.id))
    assert c1.json()["child_count"] == 3


async def test_members_see_orgs_above_them_but_not_their_other_branches(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.member.id)
    assert (await client.get(f"/api/v1/orgs/{tree.c1.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/api/v1/orgs/{tree.p.id}", headers=headers)).status_code == 200
    children = await client.get(f"/api/v1/orgs/{tree.c1.id}/children", headers=headers)
    assert children.status_code == 403
    sibling = await client.get(f"/api/v1/orgs/{tree.b2.id}", headers=headers)
    assert_problem(sibling, 404, "org.not_found")


async def test_children_are_listed_by_name(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    items = await collect(client, f"/api/v1/orgs/{tree.c1.id}/children", headers)
    assert [i["name"] for i in items] == [
        "Chi bộ Khu phố 1",
        "Chi bộ Khu phố 2",
        "Đảng bộ Trường học",
    ]


async def test_subtree_is_in_tree_order_and_depth_limited(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_root.id)
    items = await collect(client, f"/api/v1/orgs/{tree.c1.id}/subtree", headers)
    ids = [i["id"] for i in items]
    assert set(ids) == {tree.c1.id, tree.b1.id, tree.b2.id, tree.g1.id, tree.b3.id}
    assert ids[0] == tree.c1.id
    assert ids.index(tree.g1.id) < ids.index(tree.b3.id)
    shallow = await client.get(
        f"/api/v1/orgs/{tree.c1.id}/subtree", params={"max_depth": 1, "limit": 100}, headers=headers
    )
    assert {i["id"] for i in shallow.json()["items"]} == {
        tree.c1.id,
        tree.b1.id,
        tree.b2.id,
        tree.g1.id,
    }


async def test_search_ignores_diacritics_and_case(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_root.id)
    for query in ("hoa binh", "HÒA BÌNH", "phuong hoa"):
        response = await client.get("/api/v1/orgs", params={"q": query}, headers=headers)
        assert [i["id"] for i in response.json()["items"]] == [tree.c1.id], query
    dang = await client.get("/api/v1/orgs", params={"q": "dang bo truong"}, headers=headers)
    assert [i["id"] for i in dang.json()["items"]] == [tree.g1.id]


async def test_search_stays_inside_the_actors_scope(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    chi_bo = await collect(client, "/api/v1/orgs", officer, {"q": "chi bo"})
    assert {i["id"] for i in chi_bo} == {tree.b1.id, tree.b2.id, tree.b3.id}
    outside = await client.get("/api/v1/orgs", params={"q": "tan lap"}, headers=officer)
    assert outside.json()["items"] == []


async def test_search_treats_like_wildcards_literally(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_root.id)
    for query in ("%", "_", "\\"):
        response = await client.get("/api/v1/orgs", params={"q": query}, headers=headers)
        assert response.status_code == 200
        assert response.json()["items"] == []


async def test_without_query_the_tops_of_the_view_are_listed(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    member = await client.get("/api/v1/orgs", headers=await as_actor(tree.member.id))
    officer = await client.get("/api/v1/orgs", headers=await as_actor(tree.officer_c1.id))
    root = await client.get("/api/v1/orgs", headers=await as_actor(tree.officer_root.id))
    assert [i["id"] for i in member.json()["items"]] == [tree.b1.id]
    assert [i["id"] for i in officer.json()["items"]] == [tree.c1.id]
    assert [i["id"] for i in root.json()["items"]] == [tree.p.id]


async def test_officer_creates_an_org_under_their_committee(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    response = await client.post(
        "/api/v1/orgs",
        json={
            "parent_id": tree.g1.id,
            "name": "  Chi bộ   Học sinh ",
            "kind": "branch",
            "code": "HS-1",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Chi bộ Học sinh"
    assert body["depth"] == 3
    assert body["parent_id"] == tree.g1.id
    assert [a["id"] for a in body["ancestors"]] == [tree.p.id, tree.c1.id, tree.g1.id]
    subtree = await collect(client, f"/api/v1/orgs/{tree.g1.id}/subtree", headers)
    assert body["id"] in {i["id"] for i in subtree}
    found = await client.get("/api/v1/orgs", params={"q": "hoc sinh"}, headers=headers)
    assert [i["id"] for i in found.json()["items"]] == [body["id"]]


async def test_branches_have_no_child_orgs(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        "/api/v1/orgs",
        json={"parent_id": tree.b1.id, "name": "Tổ đảng 1", "kind": "branch"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 409, "org.parent_is_branch")


async def test_org_codes_are_unique(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    await make_org(session, tree.c1, kind=OrgKind.BRANCH, name="Chi bộ Có mã", code="TAKEN")
    await session.commit()
    headers = await as_actor(tree.officer_c1.id)
    created = await client.post(
        "/api/v1/orgs",
        json={"parent_id": tree.c1.id, "name": "Chi bộ Khác", "kind": "branch", "code": "TAKEN"},
        headers=headers,
    )
    renamed = await client.patch(
        f"/api/v1/orgs/{tree.b1.id}", json={"code": "TAKEN"}, headers=headers
    )
    assert_problem(created, 409, "org.code_taken")
    assert_problem(renamed, 409, "org.code_taken")


async def test_rename_updates_search(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    response = await client.patch(
        f"/api/v1/orgs/{tree.b2.id}", json={"name": "Chi bộ Đồng Tâm"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Chi bộ Đồng Tâm"
    found = await client.get("/api/v1/orgs", params={"q": "dong tam"}, headers=headers)
    assert [i["id"] for i in found.json()["items"]] == [tree.b2.id]
    cleared = await client.patch(
        f"/api/v1/orgs/{tree.b2.id}", json={"name": None, "code": "DT-1"}, headers=headers
    )
    body = assert_problem(cleared, 422, "request.invalid")
    assert [e["type"] for e in body["errors"]] == ["null_forbidden"]
    kept = (await client.get(f"/api/v1/orgs/{tree.b2.id}", headers=headers)).json()
    assert (kept["name"], kept["code"], kept["version"]) == (
        "Chi bộ Đồng Tâm",
        response.json()["code"],
        response.json()["version"],
    )


async def test_broken_and_foreign_cursors_are_400(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_root.id)
    url = f"/api/v1/orgs/{tree.p.id}/children"
    not_base64 = await client.get(url, params={"cursor": "garbage!"}, headers=headers)
    assert not_base64.status_code == 422
    for cursor in (
        "garbage",
        "e30",
        encode_cursor("members", ["a", 1]),
        encode_cursor("children", [1, "a"]),
    ):
        response = await client.get(url, params={"cursor": cursor}, headers=headers)
        assert_problem(response, 400, "pagination.invalid_cursor")


async def test_page_size_is_bounded(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_root.id)
    for limit in (0, 101, 10_000):
        response = await client.get("/api/v1/orgs", params={"limit": limit}, headers=headers)
        assert response.status_code == 422
