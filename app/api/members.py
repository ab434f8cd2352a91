"""Members of a branch or subtree; member details, create, edit, lock, password reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response, status

from app.api.deps import (
    CurrentActor,
    MemberScope,
    OrgScope,
    ReaderDep,
    SessionDep,
    TodayDep,
)
from app.api.idempotency import Idempotent
from app.api.responses import IfMatchDep, plain_json, problems, with_etag
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.models import MemberStatus
from app.schemas.common import NoNul, Page, QueryFlag
from app.schemas.member import MemberCreate, MemberRead, MemberSummary, MemberUpdate
from app.schemas.member_data import MemberDataExport
from app.services import member_data
from app.services import members as member_service
from app.services.access import Permission
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget

router = area_router(tags=["members"])


@router.get(
    "/orgs/{org_id}/members",
    response_model=Page[MemberSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_members(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_LIST))],
    actor: CurrentActor,
    reader: ReaderDep,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Name words (diacritics ignored), or digits of a phone or card number "
            "(number search needs the right to see contact details).",
        ),
        NoNul,
    ] = None,
    status: Annotated[MemberStatus | None, Query()] = None,
    is_exempt: Annotated[bool | None, Query(), QueryFlag] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Members of a branch, or of every branch below a committee, in Vietnamese name order
    (given name, then family name). Phone numbers are shown to leadership and officers only."""
    # A hot read (the bench's members pages): written from its plain values (`plain_json`).
    items, next_cursor = await member_service.list_members(
        reader,
        actor,
        org,
        q=q,
        status=status,
        is_exempt=is_exempt,
        limit=limit,
        cursor=cursor,
    )
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.post(
    "/orgs/{org_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberRead,
    responses=problems(
        401,
        403,
        404,
        413,
        codes={
            409: ["member.card_number_taken", "member.phone_taken", "resource.conflict"],
            422: [
                "member.joined_before_birth",
                "member.official_before_joined",
                "member.org_not_branch",
                "member.probationary_has_official_date",
            ],
        },
    ),
)
async def create_member(
    body: MemberCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    today: TodayDep,
    _idempotency: Idempotent,
) -> MemberRead:
    """Add a member to a branch (their membership history starts today). Send an
    `Idempotency-Key` to retry safely."""
    read = await member_service.create_member(session, actor, org, body, today=today)
    return with_etag(response, read)


@router.get(
    "/members/{member_id}", response_model=MemberRead, responses=problems(401, 403, 404, 422)
)
async def get_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_VIEW))],
    session: SessionDep,
    response: Response,
) -> MemberRead:
    """A member's details (your own, or of members you manage). Carries an `ETag`."""
    return with_etag(response, await member_service.read_member(session, member.id))


@router.patch(
    "/members/{member_id}",
    response_model=MemberRead,
    responses=problems(
        401,
        404,
        412,
        413,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["member.archived", "member.card_number_taken", "member.phone_taken"],
            # The dates are checked together, as on create.
            422: [
                "member.joined_before_birth",
                "member.official_before_joined",
                "member.probationary_has_official_date",
            ],
        },
    ),
)
async def update_member(
    body: MemberUpdate,
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """Edit a member. A new phone number ends the member's current logins; a change of status
    or exemption enters the membership history from today (use the membership actions to give
    another day or a decision number). Send the `ETag` you read as `If-Match` to refuse
    overwriting someone else's edit (412)."""
    read = await member_service.update_member(
        session, actor, member.id, body, if_match=if_match, today=today
    )
    return with_etag(response, read)


@router.post(
    "/members/{member_id}/lock",
    response_model=MemberRead,
    responses=problems(
        401,
        404,
        422,
        codes={403: ["member.holds_higher_role", "member.own_account"], 409: ["role.last_admin"]},
    ),
)
async def lock_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> MemberRead:
    """Lock a member's account: every login ends at once and no new one is accepted."""
    read = await member_service.set_locked(session, actor, member.id, locked=True)
    return with_etag(response, read)


@router.post(
    "/members/{member_id}/unlock",
    response_model=MemberRead,
    responses=problems(
        401,
        404,
        422,
        codes={403: ["member.holds_higher_role", "member.own_account"], 409: ["member.archived"]},
    ),
)
async def unlock_member(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> MemberRead:
    """Unlock a member's account."""
    read = await member_service.set_locked(session, actor, member.id, locked=False)
    return with_etag(response, read)


@router.post(
    "/members/{member_id}/password-reset",
    response_model=MemberRead,
    responses=problems(
        401, 404, 422, codes={403: ["member.holds_higher_role", "member.own_account"]}
    ),
)
async def reset_member_password(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> MemberRead:
    """Clear a member's password and end every login of theirs at once (audited). The member
    logs in again by SMS code and sets a new password right after."""
    read = await member_service.reset_password(session, actor, member.id)
    return with_etag(response, read)


@router.post(
    "/members/{member_id}/data-export",
    response_model=MemberDataExport,
    responses=problems(401, 403, 404, 422),
)
async def export_member_data(
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))],
    actor: CurrentActor,
    session: SessionDep,
) -> dict[str, Any]:
    """Everything the deployment holds about a member, for their request made through the
    organisation (organisation officers over their branch). Written to the audit log."""
    return await member_data.export_for(session, actor, member.id)
