"""The audit log of an org's subtree, for organisation officers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query

from app.api.deps import OrgScope, SessionDep
from app.api.responses import problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.audit import AuditEventRead
from app.schemas.common import MAX_ID, Digits, IsoDateTime, NoNul, Page
from app.services import audit as audit_service
from app.services.access import Permission
from app.services.orgs import OrgTarget

router = area_router(tags=["audit"])


@router.get(
    "/orgs/{org_id}/audit",
    response_model=Page[AuditEventRead],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_audit_events(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.AUDIT_VIEW))],
    session: SessionDep,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z_]+(\.[a-z_]*)?$",
            description='An action (`member.lock`), or a prefix ending in "." (`member.`).',
        ),
    ] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID), Digits] = None,
    target_type: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
    target_id: Annotated[str | None, Query(max_length=64), NoNul] = None,
    since: Annotated[IsoDateTime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Before this time.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """What was done in this org and every org below it, newest first: role grants and
    revokes, account locks, member edits, password resets, logouts everywhere …"""
    items, next_cursor = await audit_service.list_events(
        session,
        org.path,
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}
