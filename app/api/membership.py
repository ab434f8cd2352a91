"""Membership over time: history and "as of a day" questions; transfers, residence, exemptions,
full membership, archive (organisation officers, audited)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from app.api.deps import CurrentActor, MemberScope, OrgScope, SessionDep, TodayDep
from app.api.responses import IfMatchDep, Needs, problems, with_etag
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import IsoDateText, Page
from app.schemas.member import MemberRead
from app.schemas.membership import (
    ArchiveCreate,
    ExemptionEnd,
    ExemptionSet,
    FullMembership,
    MembershipAsOf,
    MembershipHistory,
    OrgMemberAsOf,
    ResidenceEnd,
    ResidenceSet,
    TransferCreate,
)
from app.services import history as history_service
from app.services import members as member_service
from app.services import membership as membership_service
from app.services.access import Permission
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget

router = area_router(tags=["membership"])

ManagedMember = Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))]
ViewedMember = Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_VIEW))]
OnDay = Annotated[
    date,
    Query(
        alias="date",
        ge=date(1900, 1, 1),
        le=date(2100, 1, 1),
        description="The day asked about (YYYY-MM-DD, local calendar).",
        examples=["2025-06-30"],
    ),
    IsoDateText,
]
_WRITES = (401, 403, 404, 409, 412, 413, 422)


async def _read(session: SessionDep, response: Response, member_id: int) -> MemberRead:
    return with_etag(response, await member_service.read_member(session, member_id))


@router.get(
    "/members/{member_id}/history",
    response_model=MembershipHistory,
    responses=problems(401, 403, 404, 422),
)
async def get_membership_history(member: ViewedMember, session: SessionDep) -> MembershipHistory:
    """Every period of the member's membership, oldest first: branch, status, exemption
    (with its decision), residence attachments, and the archive if any."""
    return await history_service.read_history(session, member.id)


@router.get(
    "/members/{member_id}/as-of",
    response_model=MembershipAsOf,
    responses=problems(401, 403, 404, 422),
)
async def get_membership_as_of(
    member: ViewedMember, session: SessionDep, on: OnDay
) -> MembershipAsOf:
    """Where the member stood on a day: branch, status, exemption, residence branch."""
    return await history_service.member_as_of(session, member.id, on)


@router.get(
    "/orgs/{org_id}/members/as-of",
    response_model=Page[OrgMemberAsOf],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_members_as_of(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_VIEW))],
    session: SessionDep,
    on: OnDay,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The members the org and its subtree had on a day, with their branch, status and
    exemption then (by member id). Later transfers, exemptions, archives and tree moves do not
    change the answer; archived members are not in it from their archive day."""
    items, next_cursor = await history_service.list_members_as_of(
        session, org.id, on, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/members/{member_id}/transfer",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            404: ["org.not_found"],
            409: [
                "member.archived",
                "membership.date_before_current",
                "membership.same_branch",
                "org.inactive",
            ],
            422: ["member.org_not_branch", "membership.date_in_future"],
        },
        needs=[Needs(Permission.MEMBER_MANAGE, "body.branch_id")],
    ),
)
async def transfer_member(
    body: TransferCreate,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """Move a member to another branch from a day (today by default). You need member
    management over both branches. Roles held on the old branch end; the history keeps where
    the member was until that day. Send `If-Match` to refuse acting on a stale read (412)."""
    await membership_service.transfer(
        session,
        actor,
        member.id,
        body.branch_id,
        on=body.effective_date,
        note=body.note,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)


@router.put(
    "/members/{member_id}/residence",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            404: ["org.not_found"],
            409: ["membership.residence_same"],
            422: ["member.org_not_branch", "membership.residence_is_branch"],
        },
    ),
)
async def set_member_residence(
    body: ResidenceSet,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """Attach the member to the branch where they live (sinh hoạt nơi cư trú), from a day;
    a previous residence attachment ends that day. Their own branch is unchanged."""
    await membership_service.set_residence(
        session,
        actor,
        member.id,
        body.branch_id,
        on=body.effective_date,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)


@router.post(
    "/members/{member_id}/residence/end",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["membership.no_residence"],
        },
    ),
)
async def end_member_residence(
    body: ResidenceEnd,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """End the member's residence attachment on a day."""
    await membership_service.end_residence(
        session, actor, member.id, on=body.effective_date, today=today, if_match=if_match
    )
    return await _read(session, response, member.id)


@router.post(
    "/members/{member_id}/exemption",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["member.archived", "membership.already_exempt"],
        },
    ),
)
async def set_member_exemption(
    body: ExemptionSet,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """Exempt the member from branch activities (miễn sinh hoạt) by a decision, from a day:
    invited to meetings, never counted absent, never in a quorum's denominator."""
    await membership_service.set_exemption(
        session,
        actor,
        member.id,
        decision_ref=body.decision_ref,
        on=body.effective_date,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)


@router.post(
    "/members/{member_id}/exemption/end",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["membership.not_exempt"],
        },
    ),
)
async def end_member_exemption(
    body: ExemptionEnd,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """End the member's exemption on a day."""
    await membership_service.end_exemption(
        session,
        actor,
        member.id,
        on=body.effective_date,
        note=body.note,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)


@router.post(
    "/members/{member_id}/full-membership",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["membership.not_probationary"],
            422: ["member.official_before_joined"],
        },
    ),
)
async def grant_full_membership(
    body: FullMembership,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """A probationary member becomes a full member (đảng viên chính thức) on the official
    date: from that day they vote."""
    await membership_service.make_full(
        session,
        actor,
        member.id,
        official_date=body.official_date,
        decision_ref=body.decision_ref,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)


@router.post(
    "/members/{member_id}/archive",
    response_model=MemberRead,
    responses=problems(
        *_WRITES,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["member.archived", "role.last_admin"],
        },
    ),
)
async def archive_member(
    body: ArchiveCreate,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchDep,
    today: TodayDep,
) -> MemberRead:
    """The member leaves the rolls (left, deceased, expelled, moved out of the deployment) on a
    day: never deleted, off every count from that day, out of the branch directory, every role
    and login ended, the account locked."""
    await membership_service.archive(
        session,
        actor,
        member.id,
        reason=body.reason,
        on=body.effective_date,
        note=body.note,
        today=today,
        if_match=if_match,
    )
    return await _read(session, response, member.id)
