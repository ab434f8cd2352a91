"""Articles (tin, bài): the editorial workflow of an org's news, published for its subtree."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response, status

from app.api.deps import CurrentActor, ObjectScope, OrgScope, ResourcesDep, SessionDep
from app.api.idempotency import Idempotent
from app.api.responses import IfMatchDep, Needs, problems, with_etag_of
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import ArticleStatus
from app.resources import Resources
from app.schemas.common import Page
from app.schemas.content import (
    ArticleCreate,
    ArticleRead,
    ArticleReject,
    ArticleSummary,
    ArticleUpdate,
    FileLink,
)
from app.services.access import Actor, Permission
from app.services.content import articles as article_service
from app.services.content.articles import ArticleTarget
from app.services.content.documents import app_link
from app.services.content.qr import MEDIA_TYPES, QrFormat, qr_code
from app.services.orgs import OrgTarget

router = area_router(tags=["articles"])


def ArticleScope(permission: Permission) -> ObjectScope[ArticleTarget]:
    """`{article_id}`: published articles are read by the subtree below their org; other
    states exist only for the org's editors and approvers."""
    return ObjectScope(
        article_service.load_target,
        permission,
        id_param="article_id",
        not_found_code=article_service.NOT_FOUND,
        description="Article id.",
        upward=permission is Permission.CONTENT_VIEW,
        visible=article_service.ensure_readable,
    )


Readable = Annotated[ArticleTarget, Depends(ArticleScope(Permission.CONTENT_VIEW))]
Writable = Annotated[ArticleTarget, Depends(ArticleScope(Permission.CONTENT_DRAFT))]
Approvable = Annotated[ArticleTarget, Depends(ArticleScope(Permission.CONTENT_PUBLISH))]


async def _read(resources: Resources, session: Any, article_id: int) -> dict[str, Any]:
    return await article_service.read_article(session, resources.settings, article_id)


@router.post(
    "/orgs/{org_id}/articles",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticleRead,
    responses=problems(
        401, 403, 409, 413, codes={404: ["upload.not_found"], 422: ["article.unsafe_markup"]}
    ),
)
async def create_article(
    body: ArticleCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.CONTENT_DRAFT))],
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Write an article for this org (editors). Body: Markdown, no raw HTML. Cover: an upload
    of yours with purpose `image`. Send an `Idempotency-Key` to retry safely."""
    article_id = await article_service.create_article(session, actor, org, body)
    return with_etag_of(response, await _read(resources, session, article_id))


@router.get(
    "/orgs/{org_id}/articles",
    response_model=Page[ArticleSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_articles(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.CONTENT_VIEW, upward=True))],
    actor: CurrentActor,
    session: SessionDep,
    article_status: Annotated[
        ArticleStatus | None, Query(alias="status", description="Only articles in this state.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ArticleSummary]:
    """This org's articles, newest first (every state for its editors and approvers)."""
    items, next_cursor = await article_service.list_org_articles(
        session, actor, org, status=article_status, limit=limit, cursor=cursor
    )
    return Page(items=[ArticleSummary.model_validate(i) for i in items], next_cursor=next_cursor)


@router.get(
    "/articles/{article_id}", response_model=ArticleRead, responses=problems(401, 403, 404, 422)
)
async def get_article(
    article: Readable, session: SessionDep, resources: ResourcesDep, response: Response
) -> dict[str, Any]:
    """An article with its workflow history and app link. Carries an `ETag`."""
    return with_etag_of(response, await _read(resources, session, article.id))


@router.patch(
    "/articles/{article_id}",
    response_model=ArticleRead,
    responses=problems(
        401,
        404,
        412,
        413,
        422,
        codes={
            403: ["article.pin_forbidden"],
            409: ["article.not_editable"],
        },
        needs=[
            Needs(Permission.CONTENT_DRAFT, "article_id"),
            Needs(Permission.CONTENT_PUBLISH, "article_id"),
        ],
    ),
)
async def update_article(
    body: ArticleUpdate,
    article: Readable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Edit a draft or a rejected article (editors); pin or unpin (approvers). Send the `ETag`
    as `If-Match` (412 if it changed)."""
    await article_service.update_article(session, actor, article, body, if_match=if_match)
    return with_etag_of(response, await _read(resources, session, article.id))


async def _move(
    resources: Resources,
    session: Any,
    actor: Actor,
    article: ArticleTarget,
    response: Response,
    action: str,
    *,
    reason: str | None = None,
    if_match: Any = None,
) -> dict[str, Any]:
    await article_service.move(session, actor, article, action, reason=reason, if_match=if_match)
    return with_etag_of(response, await _read(resources, session, article.id))


@router.post(
    "/articles/{article_id}/submit",
    response_model=ArticleRead,
    responses=problems(401, 403, 404, 412, 422, codes={409: ["article.invalid_transition"]}),
)
async def submit_article(
    article: Writable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Send a draft (or a rejected article, edited) for approval."""
    return await _move(resources, session, actor, article, response, "submit", if_match=if_match)


@router.post(
    "/articles/{article_id}/publish",
    response_model=ArticleRead,
    responses=problems(401, 403, 404, 412, 422, codes={409: ["article.invalid_transition"]}),
)
async def publish_article(
    article: Approvable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Approve and publish a submitted article for the org's subtree (approvers)."""
    return await _move(resources, session, actor, article, response, "publish", if_match=if_match)


@router.post(
    "/articles/{article_id}/reject",
    response_model=ArticleRead,
    responses=problems(401, 403, 404, 412, 413, 422, codes={409: ["article.invalid_transition"]}),
)
async def reject_article(
    body: ArticleReject,
    article: Approvable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Send a submitted article back to its editors with a reason (approvers)."""
    return await _move(
        resources,
        session,
        actor,
        article,
        response,
        "reject",
        reason=body.reason,
        if_match=if_match,
    )


@router.post(
    "/articles/{article_id}/archive",
    response_model=ArticleRead,
    responses=problems(401, 403, 404, 412, 422, codes={409: ["article.invalid_transition"]}),
)
async def archive_article(
    article: Approvable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Take a published article out of the feed (approvers); it stays for the desk."""
    return await _move(resources, session, actor, article, response, "archive", if_match=if_match)


@router.post(
    "/articles/{article_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422, codes={409: ["article.not_published"]}),
)
async def mark_article_read(article: Readable, actor: CurrentActor, session: SessionDep) -> None:
    """Record that you read the article (clears its unread marker in your feed); idempotent."""
    await article_service.mark_read(session, actor, article)


@router.get(
    "/articles/{article_id}/cover",
    response_model=FileLink,
    responses=problems(401, 403, 422, codes={404: ["article.no_cover"]}),
)
async def get_article_cover(
    article: Readable, session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """A signed link to the article's cover image (valid for an hour)."""
    return await article_service.cover_link(session, resources.storage, article)


@router.get(
    "/articles/{article_id}/qr",
    response_class=Response,
    responses={
        200: {
            "description": "The QR code of the article's app link.",
            "content": {
                "image/svg+xml": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **problems(401, 403, 404, 422),
    },
)
async def get_article_qr(
    article: Readable,
    resources: ResourcesDep,
    qr_format: Annotated[QrFormat, Query(alias="format", description="`svg` or `png`.")] = (
        QrFormat.SVG
    ),
) -> Response:
    """A QR code that opens the article in the app (after login)."""
    link = app_link(resources.settings, "articles", article.id)
    return Response(
        qr_code(link, qr_format),
        media_type=MEDIA_TYPES[qr_format],
        headers={"Cache-Control": "private, max-age=3600"},
    )
