"""Members of a branch or subtree; member details, create, edit, lock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response

from app.api.deps import MemberScope, OrgScope, SessionDep, get_resources
from app.api.responses import json_response, problems
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import MemberStatus
from app.schemas.common import NoNul, Page
from app.schemas.member import MemberCreate, MemberRead, MemberSummary, MemberUpdate
from app.services import members as member_service
from app.services.access import Permission
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget

router = APIRouter(tags=["members"])


@router.get(
    "/orgs/{org_id}/members",
    response_model=Page[MemberSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_members(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_LIST))],
    request: Request,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Name words (diacritics ignored), or digits of a phone or card number.",
        ),
        NoNul,
    ] = None,
    status: Annotated[MemberStatus | None, Query()] = None,
    is_exempt: Annotated[bool | None, Query()] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Members of a branch, or of every branch below a committee, in Vietnamese name order
    (given name, then family name)."""
    items, next_cursor = await member_service.list_members(
        get_resources(request).reader,
        org,
        q=q,
        status=status,
        is_exempt=is_exempt,
        limit=limit,
        cursor=cursor,
    )
    return json_response({"items": items, "next_cursor": next_cursor})


@router.post(
    "/orgs/{org_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberRead,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def create_member(
    body: MemberCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_MANAGE))],
    session: SessionDep,
) -> MemberRead:
    """Add a member to a branch."""
    return await member_service.create_member(session, org, body)


@router.get(
    "/members/{member_id}", response_model=MemberRead, responses=problems(401, 403, 404, 422)
)
async def get_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_VIEW, allow_self=True))],
    session: SessionDep,
) -> MemberRead:
    """A member's details."""
    return await member_service.read_member(session, member.id)


@router.patch(
    "/members/{member_id}",
    response_model=MemberRead,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def update_member(
    body: MemberUpdate,
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    session: SessionDep,
) -> MemberRead:
    """Edit a member. A new phone number ends the member's current logins."""
    return await member_service.update_member(session, member.id, body)


@router.post(
    "/members/{member_id}/lock", response_model=MemberRead, responses=problems(401, 403, 404, 422)
)
async def lock_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    session: SessionDep,
) -> MemberRead:
    """Lock a member's account: every login ends at once and no new one is accepted."""
    return await member_service.set_locked(session, member.id, locked=True)


@router.post(
    "/members/{member_id}/unlock", response_model=MemberRead, responses=problems(401, 403, 404, 422)
)
async def unlock_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    session: SessionDep,
) -> MemberRead:
    """Unlock a member's account."""
    return await member_service.set_locked(session, member.id, locked=False)
