"""The member's feed (documents and articles, newest first, unread markers) and search."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.text import fold
from app.models import (
    Article,
    ArticleStatus,
    Document,
    DocumentReceipt,
    DocumentStatus,
    Org,
)
from app.models.base import utcnow
from app.schemas.common import Page
from app.schemas.content import FeedItem
from app.services.content.numbers import number_key
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect

# The actor (lean reader) and the feed's one query; nothing per item.
FEED_STATEMENTS = 2


async def _doc(
    session: AsyncSession,
    org: Org,
    title: str,
    number: str | None = None,
    *,
    status: DocumentStatus = DocumentStatus.PUBLISHED,
    summary: str = "",
    minutes: int = 0,
) -> int:
    now = utcnow()
    document = Document(
        org_id=org.id,
        type="resolution",
        number=number,
        number_key=number_key(number),
        title=title,
        title_folded=fold(title),
        summary=summary,
        summary_folded=fold(summary),
        tags=[],
        is_confidential=False,
        is_important=False,
        status=status,
        extraction_status="none",
        created_at=now,
        updated_at=now,
        published_at=now.replace(minute=minutes, second=0, microsecond=0)
        if status == DocumentStatus.PUBLISHED
        else None,
    )
    session.add(document)
    await session.flush()
    return document.id


async def _article(
    session: AsyncSession,
    org: Org,
    title: str,
    *,
    status: ArticleStatus = ArticleStatus.PUBLISHED,
    minutes: int = 0,
) -> int:
    now = utcnow()
    article = Article(
        org_id=org.id,
        title=title,
        title_folded=fold(title),
        summary="",
        summary_folded="",
        body="",
        is_important=False,
        is_pinned=False,
        status=status,
        created_at=now,
        updated_at=now,
        published_at=now.replace(minute=minutes, second=0, microsecond=0)
        if status == ArticleStatus.PUBLISHED
        else None,
    )
    session.add(article)
    await session.flush()
    return article.id


def _ids(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(i["kind"], i["id"]) for i in items]


async def test_feed_is_the_branch_and_its_ancestors(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    province = await _doc(session, tree.p, "Nghị quyết Đại hội tỉnh", "01-NQ/TU", minutes=1)
    commune = await _doc(session, tree.c1, "Kế hoạch học tập", minutes=3)
    branch_news = await _article(session, tree.b1, "Chi bộ ra quân", minutes=3)
    same_time = await _article(session, tree.c1, "Phường tổng kết", minutes=3)
    await _doc(session, tree.c2, "Văn bản của xã khác", minutes=5)
    await _doc(session, tree.b2, "Văn bản chi bộ khác", minutes=5)
    await _doc(session, tree.c1, "Bản nháp", status=DocumentStatus.DRAFT)
    await _article(session, tree.c1, "Tin chờ duyệt", status=ArticleStatus.SUBMITTED)
    session.add(DocumentReceipt(document_id=province, member_id=tree.member.id, opened_at=utcnow()))
    await session.commit()
    member = await as_actor(tree.member.id)
    items = await collect(client, "/api/v1/me/feed", member, page_size=2)
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (await client.get("/api/v1/me/feed?limit=2", headers=member)).json()
    assert page["next_cursor"]
    assert Page[FeedItem].model_validate(page).model_dump(mode="json") == page
    assert _ids(items) == [
        ("document", commune),
        ("article", max(branch_news, same_time)),
        ("article", min(branch_news, same_time)),
        ("document", province),
    ]
    assert [i["unread"] for i in items] == [True, True, True, False]
    assert items[-1]["number"] == "01-NQ/TU"
    assert_problem(
        await client.get("/api/v1/me/feed?cursor=abc", headers=member),
        400,
        "pagination.invalid_cursor",
    )
    await client.post(f"/api/v1/articles/{branch_news}/read", headers=member)
    again = await collect(client, "/api/v1/me/feed", member, page_size=10)
    assert {(i["kind"], i["id"]): i["unread"] for i in again}[("article", branch_news)] is False


async def test_search_vietnamese_and_numbers(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    nq57 = await _doc(
        session,
        tree.p,
        "Nghị quyết về đột phá phát triển khoa học, công nghệ",
        "57-NQ/TW",
        summary="Chuyển đổi số quốc gia",
    )
    ct05 = await _doc(session, tree.c1, "Chỉ thị về học tập và làm theo tư tưởng", "05-CT/TW")
    other = await _doc(session, tree.c2, "Nghị quyết của xã Tân Lập", "12-NQ/ĐU")
    news = await _article(session, tree.c1, "Phát triển khoa học ở phường")
    await session.commit()
    member = await as_actor(tree.member.id)

    async def hits(q: str, who: dict[str, str] = member) -> list[tuple[str, int]]:
        return _ids(await collect(client, "/api/v1/search", who, {"q": q}, page_size=2))

    for q in ("57-NQ/TW", "57/NQ-TW", "NQ 57", "nq57", "số 57"):
        assert ("document", nq57) in await hits(q), q
    assert await hits("05/CT-TW") == [("document", ct05)]
    assert await hits("CT 5") == [("document", ct05)]
    # Without diacritics, any case; an exact match as typed ranks first.
    assert set(await hits("phat trien khoa hoc")) == {("document", nq57), ("article", news)}
    ranked = await hits("Phát triển khoa học ở")
    assert ranked[0] == ("article", news)
    assert await hits("CHUYEN DOI SO") == [("document", nq57)]
    # Scope: the other commune's documents are not found by this member, but by the province.
    assert ("document", other) not in await hits("nghi quyet")
    officer = await as_actor(tree.officer_root.id)
    assert ("document", other) in await hits("nghi quyet", officer)
    assert_problem(
        await client.get("/api/v1/search", params={"q": "!!!"}, headers=member),
        422,
        "search.empty_query",
    )
    assert await hits("100%") == []


async def test_home_counts_unread_documents(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    province = await _doc(session, tree.p, "Nghị quyết tỉnh")
    await _doc(session, tree.c1, "Kế hoạch phường")
    await _doc(session, tree.b1, "Tài liệu sinh hoạt")
    await _doc(session, tree.b2, "Chi bộ khác")
    await _doc(session, tree.c2, "Xã khác")
    await _doc(session, tree.c1, "Nháp", status=DocumentStatus.DRAFT)
    session.add(DocumentReceipt(document_id=province, member_id=tree.member.id, opened_at=utcnow()))
    await session.commit()
    home = await client.get("/api/v1/me/home", headers=await as_actor(tree.member.id))
    assert home.status_code == 200
    assert home.json()["unread_documents"] == 2
    teacher = await client.get("/api/v1/me/home", headers=await as_actor(tree.teacher.id))
    assert teacher.json()["unread_documents"] == 2  # P and C1 (B3 sits in G1 under C1)


async def test_feed_statements_do_not_grow_with_the_page(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    """No N+1: the feed's statements are the same for 2 items or 40, and few."""
    member = await as_actor(tree.member.id)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def measured(limit: int) -> int:
        statements.clear()
        event.listen(connection.sync_connection, "before_cursor_execute", count)
        try:
            response = await client.get(f"/api/v1/me/feed?limit={limit}", headers=member)
        finally:
            event.remove(connection.sync_connection, "before_cursor_execute", count)
        assert response.status_code == 200
        assert len(response.json()["items"]) == min(limit, 40)
        return len([s for s in statements if "SAVEPOINT" not in s.upper()])

    for n in range(20):
        await _doc(session, tree.c1, f"Văn bản {n}", minutes=n)
        await _article(session, tree.b1, f"Tin {n}", minutes=n)
    await session.commit()
    small, large = await measured(2), await measured(40)
    assert small == large
    assert 1 <= large <= FEED_STATEMENTS


async def test_feed_cursor_beyond_the_calendar_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    """A cursor carrying a time that has no UTC equivalent (year 1 at +05:00) is a 400."""
    member = await as_actor(tree.member.id)
    for at in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        cursor = base64.urlsafe_b64encode(orjson.dumps(["feed", at, "document", 1])).decode()
        assert_problem(
            await client.get(f"/api/v1/me/feed?cursor={cursor.rstrip('=')}", headers=member),
            400,
            "pagination.invalid_cursor",
        )
