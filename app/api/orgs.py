"""The org tree: a node, its children, its subtree, search; create and rename."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.api.deps import CurrentActor, OrgScope, ResourcesDep, SessionDep
from app.api.responses import IfMatchDep, Needs, problems, with_etag
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import Digits, NoNul, Page
from app.schemas.org import OrgCreate, OrgRead, OrgSummary, OrgUpdate
from app.services import orgs as org_service
from app.services.access import Permission
from app.services.orgs import OrgTarget

router = area_router(prefix="/orgs", tags=["orgs"])
_PARENT_SCOPE = OrgScope(Permission.ORG_MANAGE)

SearchQuery = Annotated[
    str | None,
    Query(max_length=100, description="Words of the name; diacritics and case are ignored."),
    NoNul,
]


@router.get("", response_model=Page[OrgSummary], responses=problems(400, 401, 422))
async def search_orgs(
    actor: CurrentActor,
    session: SessionDep,
    q: SearchQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrgSummary]:
    """Search orgs by name within what you can see; without `q`, the tops of your view."""
    items, next_cursor = await org_service.search_orgs(
        session, actor, q=q, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrgRead,
    responses=problems(
        401,
        413,
        422,
        codes={404: ["org.not_found"], 409: ["org.code_taken", "org.parent_is_branch"]},
        needs=[Needs(Permission.ORG_MANAGE, "body.parent_id")],
    ),
)
async def create_org(
    body: OrgCreate,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
) -> OrgRead:
    """Create an org under `parent_id` (needs `org.manage` there)."""
    parent = await _PARENT_SCOPE.check(resources, actor, body.parent_id)
    return with_etag(response, await org_service.create_org(session, actor, parent, body))


@router.get("/{org_id}", response_model=OrgRead, responses=problems(401, 403, 404, 422))
async def get_org(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.ORG_VIEW, upward=True))],
    session: SessionDep,
    response: Response,
) -> OrgRead:
    """One org with its ancestors (breadcrumbs). Orgs above your own are visible too."""
    return with_etag(response, await org_service.read_org(session, org.id))


@router.patch(
    "/{org_id}",
    response_model=OrgRead,
    responses=problems(401, 403, 404, 412, 413, 422, codes={409: ["org.code_taken"]}),
)
async def update_org(
    body: OrgUpdate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.ORG_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
) -> OrgRead:
    """Rename an org or change its code. Send the `ETag` you read as `If-Match` to refuse
    overwriting someone else's edit (412)."""
    read = await org_service.update_org(session, actor, org, body, if_match=if_match)
    return with_etag(response, read)


@router.get(
    "/{org_id}/children",
    response_model=Page[OrgSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_children(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.ORG_VIEW))],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrgSummary]:
    """Direct children, by name."""
    items, next_cursor = await org_service.list_children(session, org, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/{org_id}/subtree",
    response_model=Page[OrgSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_subtree(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.ORG_VIEW))],
    session: SessionDep,
    max_depth: Annotated[
        int | None,
        Query(ge=0, le=64, description="Levels below this org (0: only itself)."),
        Digits,
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrgSummary]:
    """The whole subtree in tree order (every org before its descendants), this org first."""
    items, next_cursor = await org_service.list_subtree(
        session, org, max_depth=max_depth, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)
