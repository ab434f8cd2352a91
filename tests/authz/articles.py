"""Authorization rows: articles. Targets: articles of B1 (own), B3 (near) and B4 (far), one per
workflow state the route acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Article, ArticleStatus
from app.models.base import utcnow
from app.resources import Resources
from tests import samples
from tests.authz.documents import DRAFT_FOR_ORG, EDIT_DRAFT, PUBLISH_DRAFT, READ, _org
from tests.authz.harness import Call, Context, Row, table

NF = "article.not_found"
# Acting on a published article as an approver: visible to many, permitted to few.
APPROVE_PUBLISHED = table(
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="200 200 404",
    officer_root="403 403 403",
    editor="403 403 403",
    admin="200 200 200",
)
LIST = table(
    member="200 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="200 200 404",
    officer_root="200 200 200",
    editor="200 200 200",
    admin="200 200 200",
)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    articles: dict[str, dict[str, int]] = {}
    for status in (ArticleStatus.PUBLISHED, ArticleStatus.DRAFT, ArticleStatus.SUBMITTED):
        articles[status] = {}
        for target, org in (("own", t.b1), ("near", t.b3), ("far", t.b4)):
            key = f"articles/authz/{status}-{target}.png"
            await resources.storage.put_stream(key, _once(samples.png()), content_type="image/png")
            now = utcnow()
            article = Article(
                org_id=org.id,
                title=f"Tin thử {target}",
                title_folded=f"tin thu {target}",
                summary="",
                summary_folded="",
                body="Nội dung",
                is_important=False,
                is_pinned=False,
                status=status,
                cover_storage_key=key,
                cover_content_type="image/png",
                created_at=now,
                updated_at=now,
                published_at=now if status == ArticleStatus.PUBLISHED else None,
            )
            session.add(article)
            await session.flush()
            articles[status][target] = article.id
    ctx.extra["articles"] = articles


def _url(c: Context, t: str, status: ArticleStatus, suffix: str = "") -> str:
    return f"/api/v1/articles/{c.extra['articles'][status][t]}{suffix}"


P, D, S = ArticleStatus.PUBLISHED, ArticleStatus.DRAFT, ArticleStatus.SUBMITTED

ROWS = {
    "create_article": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{_org(c, t)}/articles", {"title": "Tin mới"}),
        DRAFT_FOR_ORG,
        "org.not_found",
    ),
    "list_org_articles": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{_org(c, t)}/articles"), LIST, "org.not_found"
    ),
    "get_article": Row(lambda c, t: Call("GET", _url(c, t, P)), READ, NF),
    "update_article": Row(
        lambda c, t: Call("PATCH", _url(c, t, D), {"summary": "Tóm tắt"}), EDIT_DRAFT, NF
    ),
    "submit_article": Row(lambda c, t: Call("POST", _url(c, t, D, "/submit")), EDIT_DRAFT, NF),
    "publish_article": Row(lambda c, t: Call("POST", _url(c, t, S, "/publish")), PUBLISH_DRAFT, NF),
    "reject_article": Row(
        lambda c, t: Call("POST", _url(c, t, S, "/reject"), {"reason": "Chưa đạt"}),
        PUBLISH_DRAFT,
        NF,
    ),
    "archive_article": Row(
        lambda c, t: Call("POST", _url(c, t, P, "/archive")), APPROVE_PUBLISHED, NF
    ),
    "mark_article_read": Row(
        lambda c, t: Call("POST", _url(c, t, P, "/read")),
        {role: cells.replace("200", "204") for role, cells in READ.items()},
        NF,
    ),
    "get_article_qr": Row(lambda c, t: Call("GET", _url(c, t, P, "/qr")), READ, NF),
    "get_article_cover": Row(lambda c, t: Call("GET", _url(c, t, P, "/cover")), READ, NF),
}
