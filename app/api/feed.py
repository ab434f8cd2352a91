"""The member's feed and the one search over documents and articles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from app.api.deps import CurrentActor, ReaderDep, SessionDep
from app.api.responses import plain_json, problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import Page
from app.schemas.content import FeedItem, SearchHit
from app.services.content import feed as feed_service

router = area_router(tags=["feed"])


@router.get("/me/feed", response_model=Page[FeedItem], responses=problems(400, 401, 422))
async def list_my_feed(
    actor: CurrentActor, reader: ReaderDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """Published documents and articles of your branch and every org above it, newest first,
    with unread markers (documents you have not opened, articles you have not read)."""
    items, next_cursor = await feed_service.feed(reader, actor, limit=limit, cursor=cursor)
    # A hot read (the bench's /me/feed): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.get(
    "/search",
    response_model=Page[SearchHit],
    responses=problems(400, 401, codes={422: ["search.empty_query"]}),
)
async def search_content(
    actor: CurrentActor,
    session: SessionDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="Words (with or without diacritics) or a document number in any "
            "written form: `57-NQ/TW`, `57/NQ-TW`, `NQ 57`.",
            examples=["nghi quyet 57"],
        ),
    ],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[SearchHit]:
    """Search the documents and articles you can read. Matches as typed (accents kept) and
    document numbers come first."""
    items, next_cursor = await feed_service.search(session, actor, q, limit=limit, cursor=cursor)
    return Page(items=[SearchHit.model_validate(i) for i in items], next_cursor=next_cursor)
