"""The member's feed and the one search over documents and articles.

Feed: published documents and articles of the member's branch and every org above it, newest
first, with unread markers (no receipt yet), keyset paginated over both kinds in one query.

Search: folded words (no diacritics, no case) against folded titles and summaries, and document
numbers in any written form (`numbers.number_key`); exact matches as typed (accents kept) and
number matches rank first. On PostgreSQL the folded titles carry trigram indexes (pg_trgm), so
the contains-matches use them; SQLite scans, which is right for its size. Scope: what the actor
may read (`content.view`: their scopes' subtrees and the orgs above them), published only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import FastQuery, Reader, constant
from app.core.errors import Unprocessable
from app.core.pagination import InvalidCursor, decode_cursor, page_of
from app.core.text import fold, like_escape
from app.models import (
    Article,
    ArticleRead,
    ArticleStatus,
    Document,
    DocumentReceipt,
    DocumentStatus,
    Org,
)
from app.models.base import UTCDateTime
from app.services import access
from app.services.access import Actor, Permission
from app.services.content.numbers import parts

_d = Document.__table__
_a = Article.__table__
_r = DocumentReceipt.__table__
_ar = ArticleRead.__table__
_o = Org.__table__

MAX_TERMS = 8


def _key(published_at: datetime) -> str:
    return published_at.isoformat()


# The feed's statement, compiled once per shape: how many orgs are on the member's path (the
# branch and those above it, bound one by one), and for a page after a cursor, how the rows
# published at the cursor's very time compare with it (see `_tie`).
_FEED_QUERIES: dict[tuple[int, str | None, str | None], FastQuery] = {}
_TIE_ALL, _TIE_NONE, _TIE_ID = "all", "none", "id"


def _tie(kind: str, last_kind: str) -> str:
    """Which rows of `kind` published at the cursor's time come after the cursor's row, in the
    feed's order (published_at, kind, id) descending: all of them, none, or smaller ids."""
    if kind < last_kind:
        return _TIE_ALL
    if kind == last_kind:
        return _TIE_ID
    return _TIE_NONE


def _after(
    published_at: ColumnElement[Any], id_column: ColumnElement[Any], tie: str
) -> ColumnElement[bool]:
    """Rows after the cursor (`:at`, `:last_id`) in the descending order of the feed."""
    at = bindparam("at", type_=UTCDateTime())
    if tie == _TIE_ALL:
        return or_(published_at < at, published_at == at)
    if tie == _TIE_ID:
        return or_(
            published_at < at,
            and_(published_at == at, id_column < bindparam("last_id", type_=BigInteger)),
        )
    return published_at < at


def _feed_query(depth: int, document_tie: str | None, article_tie: str | None) -> FastQuery:
    shape = (depth, document_tie, article_tie)
    query = _FEED_QUERIES.get(shape)
    if query is not None:
        return query
    orgs = [bindparam(f"org{i}", type_=BigInteger) for i in range(depth)]
    member_id = bindparam("member_id", type_=BigInteger)
    documents = (
        select(
            constant("document").label("kind"),
            _d.c.id,
            _d.c.org_id,
            _o.c.name.label("org_name"),
            _o.c.kind.label("org_kind"),
            _d.c.title,
            _d.c.summary,
            _d.c.type.label("document_type"),
            _d.c.number,
            _d.c.is_important,
            _d.c.published_at,
            _r.c.member_id.is_(None).label("unread"),
        )
        .join(_o, _o.c.id == _d.c.org_id)
        .outerjoin(_r, and_(_r.c.document_id == _d.c.id, _r.c.member_id == member_id))
        .where(_d.c.org_id.in_(orgs), _d.c.status == constant(DocumentStatus.PUBLISHED))
    )
    articles = (
        select(
            constant("article").label("kind"),
            _a.c.id,
            _a.c.org_id,
            _o.c.name.label("org_name"),
            _o.c.kind.label("org_kind"),
            _a.c.title,
            _a.c.summary,
            null().label("document_type"),
            null().label("number"),
            _a.c.is_important,
            _a.c.published_at,
            _ar.c.member_id.is_(None).label("unread"),
        )
        .join(_o, _o.c.id == _a.c.org_id)
        .outerjoin(_ar, and_(_ar.c.article_id == _a.c.id, _ar.c.member_id == member_id))
        .where(_a.c.org_id.in_(orgs), _a.c.status == constant(ArticleStatus.PUBLISHED))
    )
    if document_tie is not None:
        documents = documents.where(_after(_d.c.published_at, _d.c.id, document_tie))
    if article_tie is not None:
        articles = articles.where(_after(_a.c.published_at, _a.c.id, article_tie))
    both = union_all(documents, articles).subquery("feed")
    query = _FEED_QUERIES[shape] = FastQuery(
        select(both)
        .order_by(both.c.published_at.desc(), both.c.kind.desc(), both.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    return query


async def feed(
    reader: Reader, actor: Actor, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    orgs = access.ancestor_ids(actor.branch_path)
    params: dict[str, Any] = {f"org{i}": org_id for i, org_id in enumerate(orgs)}
    params["member_id"] = actor.member_id
    params["limit"] = limit + 1
    document_tie = article_tie = None
    if cursor:
        at_text, kind, last_id = decode_cursor(cursor, "feed", (str, str, int))
        try:
            at = datetime.fromisoformat(at_text)
            at = at.astimezone(UTC) if at.tzinfo is not None else at
        except (ValueError, OverflowError) as exc:  # not a time, or beyond year 1..9999 in UTC
            raise InvalidCursor() from exc
        if at.tzinfo is None:
            raise InvalidCursor()
        document_tie, article_tie = _tie("document", kind), _tie("article", kind)
        params["at"] = at
        if _TIE_ID in (document_tie, article_tie):
            params["last_id"] = last_id
    rows = await reader.fetch(_feed_query(len(orgs), document_tie, article_tie), params)
    page, next_cursor = page_of(
        rows, limit, "feed", lambda r: (_key(r["published_at"]), r["kind"], r["id"])
    )
    return [_item(r) for r in page], next_cursor


def _item(row: Any) -> dict[str, Any]:
    return {
        "kind": row["kind"],
        "id": row["id"],
        "org": {"id": row["org_id"], "name": row["org_name"], "kind": row["org_kind"]},
        "title": row["title"],
        "summary": row["summary"],
        "document_type": row["document_type"],
        "number": row["number"],
        "is_important": bool(row["is_important"]),
        "published_at": row["published_at"],
        "unread": bool(row["unread"]),
    }


async def unread_documents(session: AsyncSession, actor: Actor) -> int:
    """Published documents reaching the member that they have not opened (for the home screen)."""
    count = await session.scalar(
        select(func.count())
        .select_from(_d)
        .outerjoin(_r, and_(_r.c.document_id == _d.c.id, _r.c.member_id == actor.member_id))
        .where(
            _d.c.org_id.in_(access.ancestor_ids(actor.branch_path)),
            _d.c.status == DocumentStatus.PUBLISHED,
            _r.c.member_id.is_(None),
        )
    )
    return int(count or 0)


# --- search -----------------------------------------------------------------------------------


def _visible(actor: Actor, path: Any, org_id: Any) -> ColumnElement[bool]:
    """Orgs whose published content the actor reads: inside a `content.view` scope, or above one."""
    roots = access.scope_roots(actor, Permission.CONTENT_VIEW)
    above = sorted({i for root in roots for i in access.ancestor_ids(root)})
    return or_(access.scope_clause(actor, Permission.CONTENT_VIEW, path), org_id.in_(above))


def _matches(
    tokens: list[str], title: Any, summary: Any, number: Any | None
) -> ColumnElement[bool]:
    conditions = []
    for token in tokens:
        pattern = f"%{like_escape(token)}%"
        options = [title.like(pattern, escape="\\"), summary.like(pattern, escape="\\")]
        if number is not None:
            normal = str(int(token)) if token.isdigit() else token
            options.append(number.like(f"% {like_escape(normal)} %", escape="\\"))
        conditions.append(or_(*options))
    return and_(*conditions)


async def search(
    session: AsyncSession, actor: Actor, query: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    tokens = list(dict.fromkeys(_tokens(query)))[:MAX_TERMS]
    if not tokens:
        raise Unprocessable("Hãy nhập từ khóa tìm kiếm.", code="search.empty_query")
    typed = f"%{like_escape(' '.join(query.split()))}%"
    number_tokens = parts(query)
    number_hit = and_(
        _d.c.number_key.is_not(None),
        *[_d.c.number_key.like(f"% {like_escape(t)} %", escape="\\") for t in number_tokens],
    )
    doc_rank = case((or_(_d.c.title.ilike(typed, escape="\\"), number_hit), 0), else_=1).label(
        "rank"
    )
    art_rank = case((_a.c.title.ilike(typed, escape="\\"), 0), else_=1).label("rank")
    documents = (
        select(
            doc_rank,
            literal("document").label("kind"),
            _d.c.id,
            _d.c.org_id,
            _o.c.name.label("org_name"),
            _o.c.kind.label("org_kind"),
            _d.c.title,
            _d.c.number,
            _d.c.type.label("document_type"),
            _d.c.published_at,
            _d.c.status,
        )
        .join(_o, _o.c.id == _d.c.org_id)
        .where(
            _d.c.status == DocumentStatus.PUBLISHED,
            _visible(actor, _o.c.path, _o.c.id),
            _matches(tokens, _d.c.title_folded, _d.c.summary_folded, _d.c.number_key),
        )
    )
    articles = (
        select(
            art_rank,
            literal("article").label("kind"),
            _a.c.id,
            _a.c.org_id,
            _o.c.name.label("org_name"),
            _o.c.kind.label("org_kind"),
            _a.c.title,
            null().label("number"),
            null().label("document_type"),
            _a.c.published_at,
            _a.c.status,
        )
        .join(_o, _o.c.id == _a.c.org_id)
        .where(
            _a.c.status == ArticleStatus.PUBLISHED,
            _visible(actor, _o.c.path, _o.c.id),
            _matches(tokens, _a.c.title_folded, _a.c.summary_folded, None),
        )
    )
    both = union_all(documents, articles).subquery("hits")
    statement = select(both)
    if cursor:
        rank, kind, last_id = decode_cursor(cursor, "search", (int, str, int))
        statement = statement.where(
            or_(
                both.c.rank > rank,
                and_(both.c.rank == rank, both.c.kind > kind),
                and_(both.c.rank == rank, both.c.kind == kind, both.c.id < last_id),
            )
        )
    rows = list(
        (
            await session.execute(
                statement.order_by(both.c.rank, both.c.kind, both.c.id.desc()).limit(limit + 1)
            )
        ).mappings()
    )
    page, next_cursor = page_of(
        rows, limit, "search", lambda r: (int(r["rank"]), r["kind"], r["id"])
    )
    return [
        {
            "kind": r["kind"],
            "id": r["id"],
            "org": {"id": r["org_id"], "name": r["org_name"], "kind": r["org_kind"]},
            "title": r["title"],
            "number": r["number"],
            "document_type": r["document_type"],
            "published_at": r["published_at"],
            "status": r["status"],
            "exact": int(r["rank"]) == 0,
        }
        for r in page
    ], next_cursor


_WORDS = re.compile(r"[0-9]+|[a-z]+")


def _tokens(query: str) -> list[str]:
    return _WORDS.findall(fold(query))
