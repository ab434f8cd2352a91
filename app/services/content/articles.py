"""Articles (tin, bài): written by an org's editors, published by its approvers for the org's
subtree. The workflow, with every transition kept in `article_transition`:

    draft ─submit→ submitted ─publish→ published ─archive→ archived
      ↑                 └──reject (reason)→ rejected ─submit→ submitted
      └── edits happen in draft or rejected

Bodies are Markdown without raw HTML: a tag or a `javascript:` link is refused (422), never
stored and sanitised later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.config import Settings
from app.core.db import FastQuery, Reader, dialect_insert
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.etag import IfMatch
from app.core.pagination import decode_cursor, page_of
from app.core.text import fold
from app.integrations.storage import Storage
from app.models import Article, ArticleRead, ArticleStatus, ArticleTransition, NoticeKind, Org
from app.models.base import utcnow
from app.schemas.content import ArticleCreate, ArticleUpdate
from app.services import access, audit, notices
from app.services.access import Actor, Permission
from app.services.content.documents import app_link, may_edit
from app.services.orgs import OrgTarget
from app.services.uploads import UploadPurpose
from app.services.uploads import records as upload_records

NOT_FOUND = "article.not_found"
COVER_TTL_S = 3600

_a = Article.__table__
_t = ArticleTransition.__table__
_o = Org.__table__

# Raw HTML (a tag, a comment, a processing instruction) but not Markdown autolinks <https://…>.
_HTML = re.compile(r"<(?!https?://)[A-Za-z!/?]")
_SCRIPT_URL = re.compile(r"(?:java|vb)script\s*:|data\s*:\s*text/html", re.IGNORECASE)


def check_markdown(text: str) -> None:
    if _HTML.search(text) or _SCRIPT_URL.search(text):
        raise Unprocessable(
            "Nội dung không được chứa mã HTML hoặc liên kết chạy mã; hãy dùng Markdown.",
            code="article.unsafe_markup",
        )


@dataclass(frozen=True, slots=True)
class ArticleTarget:
    id: int
    org_id: int
    path: str
    status: str

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_a.c.id, _a.c.org_id, _a.c.status, _o.c.path)
    .join(_o, _o.c.id == _a.c.org_id)
    .where(_a.c.id == bindparam("article_id", type_=BigInteger))
)


async def load_target(reader: Reader, article_id: int) -> ArticleTarget | None:
    rows = await reader.fetch(_TARGET, {"article_id": article_id})
    if not rows:
        return None
    row = rows[0]
    return ArticleTarget(id=row["id"], org_id=row["org_id"], path=row["path"], status=row["status"])


def ensure_readable(actor: Actor, target: ArticleTarget) -> None:
    """Published articles are read by the subtree; every other state only by the desk."""
    if target.status != ArticleStatus.PUBLISHED and not may_edit(actor, target.path):
        raise NotFound(code=NOT_FOUND)


_SUMMARY_COLUMNS = (
    _a.c.id,
    _a.c.org_id,
    _o.c.name.label("org_name"),
    _o.c.kind.label("org_kind"),
    _a.c.title,
    _a.c.summary,
    _a.c.category,
    _a.c.status,
    _a.c.is_important,
    _a.c.is_pinned,
    _a.c.cover_storage_key,
    _a.c.published_at,
)


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "org": {"id": row["org_id"], "name": row["org_name"], "kind": row["org_kind"]},
        "title": row["title"],
        "summary": row["summary"],
        "category": row["category"],
        "status": row["status"],
        "is_important": row["is_important"],
        "is_pinned": row["is_pinned"],
        "has_cover": row["cover_storage_key"] is not None,
        "published_at": row["published_at"],
    }


async def read_article(
    session: AsyncSession, settings: Settings, article_id: int
) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                select(
                    *_SUMMARY_COLUMNS,
                    _a.c.body,
                    _a.c.reject_reason,
                    _a.c.created_at,
                    _a.c.updated_at,
                    _a.c.version,
                )
                .join(_o, _o.c.id == _a.c.org_id)
                .where(_a.c.id == article_id)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(code=NOT_FOUND)
    history = (
        await session.execute(
            select(_t.c.from_status, _t.c.to_status, _t.c.reason, _t.c.actor_id, _t.c.at)
            .where(_t.c.article_id == article_id)
            .order_by(_t.c.id)
        )
    ).mappings()
    return {
        **_summary(row),
        "body": row["body"],
        "reject_reason": row["reject_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
        "link": app_link(settings, "articles", article_id),
        "history": [dict(h) for h in history],
    }


async def list_org_articles(
    session: AsyncSession,
    actor: Actor,
    org: OrgTarget,
    *,
    status: ArticleStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(*_SUMMARY_COLUMNS).join(_o, _o.c.id == _a.c.org_id).where(_a.c.org_id == org.id)
    if not may_edit(actor, org.path):
        if status not in (None, ArticleStatus.PUBLISHED):
            return [], None
        status = ArticleStatus.PUBLISHED
    if status is not None:
        query = query.where(_a.c.status == status)
    if cursor:
        (last_id,) = decode_cursor(cursor, "org-articles", (int,))
        query = query.where(_a.c.id < last_id)
    rows = list((await session.execute(query.order_by(_a.c.id.desc()).limit(limit + 1))).mappings())
    page, next_cursor = page_of(rows, limit, "org-articles", lambda r: (r["id"],))
    return [_summary(r) for r in page], next_cursor


def _transition(
    session: AsyncSession,
    article: Article,
    actor: Actor,
    to: ArticleStatus,
    reason: str | None = None,
) -> None:
    session.add(
        ArticleTransition(
            article_id=article.id,
            from_status=article.status,
            to_status=to,
            reason=reason,
            actor_id=actor.member_id,
            at=utcnow(),
        )
    )
    article.status = to
    article.updated_at = utcnow()


async def _take_cover(
    session: AsyncSession, actor: Actor, article: Article, upload_id: int
) -> None:
    upload = await upload_records.take(session, actor, upload_id, purpose=UploadPurpose.IMAGE)
    article.cover_storage_key = upload.storage_key
    article.cover_content_type = upload.content_type


async def create_article(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: ArticleCreate
) -> int:
    check_markdown(body.body)
    check_markdown(body.summary)
    now = utcnow()
    article = Article(
        org_id=org.id,
        title=body.title,
        title_folded=fold(body.title)[:300],
        summary=body.summary,
        summary_folded=fold(body.summary),
        body=body.body,
        category=body.category,
        is_important=body.is_important,
        is_pinned=False,
        status=ArticleStatus.DRAFT,
        created_by_id=actor.member_id,
        created_at=now,
        updated_at=now,
    )
    if body.cover_upload_id is not None:
        await _take_cover(session, actor, article, body.cover_upload_id)
    session.add(article)
    await session.flush()
    session.add(
        ArticleTransition(
            article_id=article.id,
            from_status=None,
            to_status=ArticleStatus.DRAFT,
            actor_id=actor.member_id,
            at=now,
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor,
        "article.create",
        target=("article", article.id),
        org_id=org.id,
        detail={"title": article.title},
    )
    return article.id


async def _locked(session: AsyncSession, article_id: int) -> Article:
    article = await session.get(Article, article_id, with_for_update=True, populate_existing=True)
    if article is None:
        raise NotFound(code=NOT_FOUND)
    return article


EDITABLE = frozenset({ArticleStatus.DRAFT, ArticleStatus.REJECTED})


async def update_article(
    session: AsyncSession,
    actor: Actor,
    target: ArticleTarget,
    body: ArticleUpdate,
    *,
    if_match: IfMatch | None,
) -> None:
    """Edit a draft or a rejected article. Pinning (any state) is the approvers' call."""
    if not may_edit(actor, target.path):
        raise Forbidden()
    article = await _locked(session, target.id)
    etag.check(if_match, article.version)
    values = body.model_dump(exclude_unset=True)
    pin = values.pop("is_pinned", None)
    if pin is not None and not access.can(actor, Permission.CONTENT_PUBLISH, target.path):
        raise Forbidden("Chỉ người duyệt mới ghim tin bài.", code="article.pin_forbidden")
    if values and article.status not in EDITABLE:
        raise Conflict("Chỉ sửa được bản nháp hoặc bài bị trả lại.", code="article.not_editable")
    if values and not access.can(actor, Permission.CONTENT_DRAFT, target.path):
        raise Forbidden()
    if "title" in values:
        article.title = values["title"]
        article.title_folded = fold(values["title"])[:300]
    if "summary" in values:
        check_markdown(values["summary"])
        article.summary = values["summary"]
        article.summary_folded = fold(values["summary"])
    if "body" in values:
        check_markdown(values["body"])
        article.body = values["body"]
    if "category" in values:
        article.category = values["category"]
    if "is_important" in values:
        article.is_important = values["is_important"]
    if values.get("cover_upload_id") is not None:
        await _take_cover(session, actor, article, values["cover_upload_id"])
    if pin is not None:
        article.is_pinned = pin
    article.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "article.update",
        target=("article", article.id),
        org_id=article.org_id,
        detail={"fields": sorted(body.model_fields_set)},
    )


_MOVES: dict[str, tuple[frozenset[ArticleStatus], ArticleStatus, Permission]] = {
    "submit": (EDITABLE, ArticleStatus.SUBMITTED, Permission.CONTENT_DRAFT),
    "publish": (
        frozenset({ArticleStatus.SUBMITTED}),
        ArticleStatus.PUBLISHED,
        Permission.CONTENT_PUBLISH,
    ),
    "reject": (
        frozenset({ArticleStatus.SUBMITTED}),
        ArticleStatus.REJECTED,
        Permission.CONTENT_PUBLISH,
    ),
    "archive": (
        frozenset({ArticleStatus.PUBLISHED}),
        ArticleStatus.ARCHIVED,
        Permission.CONTENT_PUBLISH,
    ),
}


async def move(
    session: AsyncSession,
    actor: Actor,
    target: ArticleTarget,
    action: str,
    *,
    reason: str | None = None,
    if_match: IfMatch | None = None,
) -> None:
    """One workflow transition, checked on the locked row (out of order: 409)."""
    allowed_from, to, _permission = _MOVES[action]
    article = await _locked(session, target.id)
    etag.check(if_match, article.version)
    if article.status not in allowed_from:
        raise Conflict(
            "Không thể chuyển tin bài sang trạng thái này từ trạng thái hiện tại.",
            code="article.invalid_transition",
        )
    _transition(session, article, actor, to, reason)
    if to is ArticleStatus.REJECTED:
        article.reject_reason = reason
    if to is ArticleStatus.SUBMITTED:
        article.reject_reason = None
    if to is ArticleStatus.PUBLISHED:
        article.published_at = utcnow()
        article.published_by_id = actor.member_id
    await session.flush()
    if to is ArticleStatus.PUBLISHED:
        await notices.notify(
            session,
            kind=NoticeKind.ARTICLE,
            title=article.title,
            body=article.summary or "Có tin bài mới.",
            data={"article_id": article.id},
            audience=notices.Audience(org_id=article.org_id),
            # The inbox for every member; a push only for what is marked important.
            has_push=article.is_important,
            is_urgent=article.is_important,
            created_by_id=actor.member_id,
        )
    await audit.record(
        session,
        actor,
        f"article.{action}",
        target=("article", article.id),
        org_id=article.org_id,
        detail={"reason": reason} if reason else None,
    )


async def mark_read(session: AsyncSession, actor: Actor, target: ArticleTarget) -> None:
    """The member read the article (clears the feed's unread marker); once per member."""
    if target.status != ArticleStatus.PUBLISHED:
        raise Conflict("Tin bài chưa được đăng.", code="article.not_published")
    await session.execute(
        dialect_insert(session, ArticleRead)
        .values(article_id=target.id, member_id=actor.member_id, read_at=utcnow())
        .on_conflict_do_nothing(index_elements=["article_id", "member_id"])
    )


async def cover_link(
    session: AsyncSession, storage: Storage, target: ArticleTarget
) -> dict[str, Any]:
    key = await session.scalar(select(_a.c.cover_storage_key).where(_a.c.id == target.id))
    if key is None:
        raise NotFound("Tin bài không có ảnh bìa.", code="article.no_cover")
    url = await storage.presign_get(key, expires_s=COVER_TTL_S, inline=True)
    return {"url": url, "expires_in": COVER_TTL_S}
