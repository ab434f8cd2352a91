"""ETag on editable resources, If-Match on their edits. (Racing stale edits:
tests/api/test_concurrency.py.)"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.etag import IfMatch
from app.models import Member, Org
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


@pytest.mark.parametrize("kind", ["member", "org"])
async def test_a_stale_edit_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession, kind: str
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.teacher.id}" if kind == "member" else f"/api/v1/orgs/{tree.b2.id}"
    field = "full_name" if kind == "member" else "name"
    read = await client.get(url, headers=headers)
    tag = read.headers["ETag"]
    assert tag == f'"v{read.json()["version"]}"'
    first = await client.patch(
        url, json={field: "Tên Thứ Nhất"}, headers={**headers, "If-Match": tag}
    )
    assert first.status_code == 200
    assert first.headers["ETag"] != tag
    stale = await client.patch(
        url, json={field: "Tên Thứ Hai"}, headers={**headers, "If-Match": tag}
    )
    assert_problem(stale, 412, "resource.etag_mismatch")
    model = Member if kind == "member" else Org
    row = await session.get(model, tree.teacher.id if kind == "member" else tree.b2.id)
    assert row is not None
    await session.refresh(row)
    assert getattr(row, field) == "Tên Thứ Nhất"
    fresh = await client.patch(
        url, json={field: "Tên Thứ Ba"}, headers={**headers, "If-Match": first.headers["ETag"]}
    )
    assert fresh.status_code == 200


async def test_edits_without_if_match_still_apply(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.teacher.id}"
    assert (await client.patch(url, json={"full_name": "Đỗ Văn Một"}, headers=headers)).is_success
    assert (await client.patch(url, json={"full_name": "Đỗ Văn Hai"}, headers=headers)).is_success
    star = await client.patch(
        url, json={"full_name": "Đỗ Văn Ba"}, headers={**headers, "If-Match": "*"}
    )
    assert star.json()["full_name"] == "Đỗ Văn Ba"


async def test_an_edit_that_changes_nothing_keeps_the_tag(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.teacher.id}"
    tag = (await client.get(url, headers=headers)).headers["ETag"]
    same = await client.patch(url, json={"full_name": tree.teacher.full_name}, headers=headers)
    assert same.headers["ETag"] == tag


def test_if_match_parsing() -> None:
    assert IfMatch.parse(None) is None
    star = IfMatch.parse("*")
    assert star is not None
    assert star.any
    listed = IfMatch.parse('"v1", W/"v2" , "v3"')
    assert listed is not None
    assert listed.tags == {'"v1"', '"v3"'}  # weak tags never match (strong comparison)
    broken = IfMatch.parse('"v1", garbage "v4"')
    assert broken is not None
    assert broken.tags == {'"v1"'}
