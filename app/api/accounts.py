"""A member's phone and logins: the member changes their number by SMS code, lists and ends
their logins; officers change a member's number (with a reason) and end all their logins."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Path, Response, status

from app.api.auth import send_sms
from app.api.deps import ClientDep, CurrentActor, MemberScope, ResourcesDep, SessionDep
from app.api.responses import problems, with_etag
from app.api.routing import area_router
from app.schemas.member import MemberRead
from app.schemas.membership import (
    LoginList,
    PhoneChallengeRead,
    PhoneChangeByOfficer,
    PhoneChangeConfirm,
    PhoneChangeRequest,
)
from app.services import accounts as account_service
from app.services import members as member_service
from app.services.access import Permission
from app.services.members import MemberTarget

router = area_router(tags=["accounts"])

ManagedMember = Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_MANAGE))]
LoginId = Annotated[
    str,
    Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$", description="Login id."),
]


@router.post(
    "/members/{member_id}/phone",
    response_model=MemberRead,
    responses=problems(
        401,
        404,
        413,
        422,
        codes={
            403: ["member.holds_higher_role", "member.own_account"],
            409: ["member.archived", "member.phone_taken", "member.phone_unchanged"],
        },
    ),
)
async def change_member_phone(
    body: PhoneChangeByOfficer,
    member: ManagedMember,
    actor: CurrentActor,
    session: SessionDep,
    response: Response,
) -> MemberRead:
    """Give a member a new phone number, with a reason (audited). Every login of the member
    ends and every code sent to them stops working."""
    await account_service.change_phone_by_officer(
        session, actor, member.id, phone=body.phone, reason=body.reason
    )
    return with_etag(response, await member_service.read_member(session, member.id))


@router.post(
    "/members/{member_id}/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401, 404, 422, codes={403: ["member.holds_higher_role", "member.own_account"]}
    ),
)
async def end_member_logins(
    member: ManagedMember, actor: CurrentActor, session: SessionDep
) -> None:
    """End every login of a member at once (a lost or stolen phone), and the codes sent to
    them (audited). The member logs in again by SMS code or password."""
    await account_service.end_member_logins(session, actor, member.id)


@router.post(
    "/me/phone/code",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PhoneChallengeRead,
    responses=problems(
        401,
        413,
        422,
        503,
        codes={409: ["member.phone_taken", "member.phone_unchanged"], 429: ["auth.otp_cooldown"]},
    ),
)
async def request_phone_change_code(
    body: PhoneChangeRequest,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    client: ClientDep,
    background: BackgroundTasks,
) -> PhoneChallengeRead:
    """Start changing my phone number: a code goes by SMS to the new number (5 minutes, 5
    tries, the login codes' limits). 409 `member.phone_taken` when another member has it."""
    issued = await account_service.request_phone_code(
        session, resources.auth, actor, phone=body.phone, client=client
    )
    if issued.message is not None:
        background.add_task(send_sms, resources.sms, issued.message)
    return PhoneChallengeRead(
        challenge_id=issued.challenge_id,
        expires_in=issued.expires_in,
        resend_after=issued.resend_after,
    )


@router.post(
    "/me/phone",
    response_model=MemberRead,
    responses=problems(
        413,
        422,
        429,
        codes={401: ["auth.otp_invalid"], 409: ["member.phone_taken", "member.phone_unchanged"]},
    ),
)
async def confirm_phone_change(
    body: PhoneChangeConfirm,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    client: ClientDep,
    response: Response,
) -> MemberRead:
    """Finish changing my phone with the code sent to the new number. My other logins end
    (this one stays) and codes sent to me before stop working."""
    await account_service.confirm_phone(
        session,
        resources.auth,
        actor,
        challenge_id=body.challenge_id,
        code=body.code,
        client=client,
    )
    return with_etag(response, await member_service.read_member(session, actor.member_id))


@router.get("/me/logins", response_model=LoginList, responses=problems(401))
async def list_my_logins(actor: CurrentActor, session: SessionDep) -> LoginList:
    """My live logins, newest first: how each was made, the device and app, when it was last
    used, a coarse place when known, and which one is this."""
    return await account_service.list_logins(session, actor)


@router.delete(
    "/me/logins/{login_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 422, codes={404: ["login.not_found"]}),
)
async def end_my_login(login_id: LoginId, actor: CurrentActor, session: SessionDep) -> None:
    """End one of my logins (a lost phone): its tokens stop working at once. Ending this
    login is a logout."""
    await account_service.end_login(session, actor, login_id)
