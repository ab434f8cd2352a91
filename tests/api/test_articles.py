"""Articles: the editorial workflow, every transition recorded, scope, unsafe markup."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Article, ArticleRead, ArticleTransition, Notice
from tests import samples
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect

NEW = {
    "title": "Chi bộ Khu phố 1 ra quân làm sạch môi trường",
    "summary": "Hơn 40 đảng viên tham gia.",
    "body": "## Ra quân\n\nSáng **Chủ nhật**, chi bộ ra quân. Xem <https://example.vn/tin>.",
    "category": "Tin hoạt động",
}


async def write(
    client: httpx.AsyncClient, as_actor: ActorLogin, tree: Tree, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/articles",
        json={**NEW, **extra},
        headers=await as_actor(tree.editor.id),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_workflow_with_history(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    approver = await as_actor(tree.approver.id)
    member = await as_actor(tree.member.id)
    cover = await client.post(
        "/api/v1/uploads?purpose=image",
        content=samples.png(),
        headers={**editor, "Content-Type": "image/png"},
    )
    created = await write(client, as_actor, tree, cover_upload_id=cover.json()["id"])
    url = f"/api/v1/articles/{created['id']}"
    assert created["status"] == "draft"
    assert created["has_cover"]
    assert_problem(await client.get(url, headers=member), 404, "article.not_found")
    # Out of order: publishing a draft that was never submitted.
    assert_problem(
        await client.post(f"{url}/publish", headers=approver), 409, "article.invalid_transition"
    )
    assert (await client.post(f"{url}/submit", headers=editor)).status_code == 200
    rejected = await client.post(
        f"{url}/reject", json={"reason": "Cần thêm ảnh hoạt động"}, headers=approver
    )
    assert rejected.status_code == 200
    assert rejected.json()["reject_reason"] == "Cần thêm ảnh hoạt động"
    # A rejected article is not published before it is edited and submitted again.
    assert_problem(
        await client.post(f"{url}/publish", headers=approver), 409, "article.invalid_transition"
    )
    edited = await client.patch(url, json={"summary": "Gần 50 đảng viên tham gia."}, headers=editor)
    assert edited.status_code == 200, edited.text
    assert (await client.post(f"{url}/submit", headers=editor)).status_code == 200
    assert_problem(await client.post(f"{url}/publish", headers=editor), 403, "scope.forbidden")
    published = await client.post(f"{url}/publish", headers=approver)
    assert published.status_code == 200
    body = published.json()
    assert body["status"] == "published"
    assert body["reject_reason"] is None
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        (None, "draft"),
        ("draft", "submitted"),
        ("submitted", "rejected"),
        ("rejected", "submitted"),
        ("submitted", "published"),
    ]
    assert body["history"][2]["reason"] == "Cần thêm ảnh hoạt động"
    assert (
        await session.scalar(
            select(func.count())
            .select_from(ArticleTransition)
            .where(ArticleTransition.article_id == created["id"])
        )
        == 5
    )
    notice = (await session.execute(select(Notice).order_by(Notice.id.desc()))).scalars().first()
    assert notice is not None
    assert notice.data == {"article_id": str(created["id"])}
    # The inbox for every member below; a push only for what is marked important.
    assert notice.has_push is bool(created["is_important"])

    # Members below C1 read it; a published article is not edited, but approvers pin it.
    assert (await client.get(url, headers=member)).status_code == 200
    assert_problem(
        await client.get(url, headers=await as_actor(tree.outsider.id)), 404, "article.not_found"
    )
    assert_problem(
        await client.patch(url, json={"title": "Khác"}, headers=editor),
        409,
        "article.not_editable",
    )
    assert_problem(
        await client.patch(url, json={"is_pinned": True}, headers=editor),
        403,
        "article.pin_forbidden",
    )
    assert_problem(await client.patch(url, json={}, headers=member), 403, "scope.forbidden")
    pinned = await client.patch(url, json={"is_pinned": True}, headers=approver)
    assert pinned.status_code == 200
    assert pinned.json()["is_pinned"] is True
    cover_link = await client.get(f"{url}/cover", headers=member)
    assert cover_link.status_code == 200
    image = await client.get(cover_link.json()["url"].replace("http://127.0.0.1:8000", ""))
    assert image.content == samples.png()

    # Read marker, once.
    for _ in range(2):
        assert (await client.post(f"{url}/read", headers=member)).status_code == 204
    assert (
        await session.scalar(
            select(func.count())
            .select_from(ArticleRead)
            .where(ArticleRead.article_id == created["id"])
        )
        == 1
    )

    archived = await client.post(f"{url}/archive", headers=approver)
    assert archived.json()["status"] == "archived"
    assert_problem(await client.get(url, headers=member), 404, "article.not_found")
    row = await session.get(Article, created["id"], populate_existing=True)
    assert row is not None
    assert row.status == "archived"


async def test_scripts_and_html_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    before = await session.scalar(select(func.count()).select_from(Article))
    for body in (
        "Xin chào <script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[bấm vào](javascript:alert(1))",
        "<!-- ẩn -->",
    ):
        response = await client.post(
            f"/api/v1/orgs/{tree.c1.id}/articles", json={**NEW, "body": body}, headers=editor
        )
        assert_problem(response, 422, "article.unsafe_markup")
    assert await session.scalar(select(func.count()).select_from(Article)) == before
    # An SVG with a script is not an image upload.
    svg = await client.post(
        "/api/v1/uploads?purpose=image",
        content=samples.svg_with_script(),
        headers={**editor, "Content-Type": "image/svg+xml"},
    )
    assert svg.status_code == 415


async def test_org_articles_list(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    first = (await write(client, as_actor, tree))["id"]
    second = (await write(client, as_actor, tree, title="Tin thứ hai"))["id"]
    editor = await as_actor(tree.editor.id)
    await client.post(f"/api/v1/articles/{first}/submit", headers=editor)
    await client.post(f"/api/v1/articles/{first}/publish", headers=await as_actor(tree.approver.id))
    url = f"/api/v1/orgs/{tree.c1.id}/articles"
    assert [a["id"] for a in await collect(client, url, editor)] == [second, first]
    member = await as_actor(tree.member.id)
    assert [a["id"] for a in await collect(client, url, member)] == [first]
    assert (await client.get(url, params={"status": "draft"}, headers=member)).json()["items"] == []
