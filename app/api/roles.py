"""Roles on orgs: who holds what, grant, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, status

from app.api.deps import CurrentActor, GrantScope, OrgScope, SessionDep
from app.api.idempotency import Idempotent
from app.api.responses import problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import Page
from app.schemas.role import RoleGrantCreate, RoleGrantRead
from app.services import roles as role_service
from app.services.access import Permission
from app.services.orgs import OrgTarget
from app.services.roles import GrantTarget

router = area_router(tags=["roles"])


@router.get(
    "/orgs/{org_id}/roles",
    response_model=Page[RoleGrantRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_roles(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_LIST))],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RoleGrantRead]:
    """Who holds which role on this org (secretary, officers, …)."""
    items, next_cursor = await role_service.list_org_roles(session, org, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/orgs/{org_id}/roles",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleGrantRead,
    responses=problems(
        401,
        413,
        422,
        codes={
            403: ["role.cannot_grant"],
            404: ["member.not_found"],
            409: ["role.already_granted"],
        },
    ),
)
async def grant_role(
    body: RoleGrantCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.ROLE_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> RoleGrantRead:
    """Give a member a role on this org. It takes effect at once and covers the subtree.
    You can only grant roles whose rights you hold here yourself. Send an `Idempotency-Key`
    to retry safely."""
    return await role_service.grant_role(
        session, actor, org, member_id=body.member_id, role=body.role
    )


@router.delete(
    "/roles/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401,
        404,
        422,
        codes={403: ["role.cannot_revoke", "role.own_grant"], 409: ["role.last_admin"]},
    ),
)
async def revoke_role(
    grant: Annotated[GrantTarget, Depends(GrantScope)],
    actor: CurrentActor,
    session: SessionDep,
) -> None:
    """Take a role back. It stops working at once; the grant stays in the history. Only a
    scope above the role's org may take it back; nobody revokes their own role; the last
    deployment admin stays (409 `role.last_admin`)."""
    await role_service.revoke_role(session, actor, grant)
