"""The member's inbox, devices and notification preferences; a secretary's SMS switch for a
member without a smartphone."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Response, status

from app.api.deps import CurrentActor, MemberScope, ReaderDep, SessionDep
from app.api.responses import plain_json, problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.schemas.common import MAX_ID, Digits, Page, QueryFlag
from app.schemas.notification import (
    DeviceRead,
    DeviceRegister,
    MarkAllRead,
    MarkedRead,
    NotificationPreferenceRead,
    NotificationPreferenceUpdate,
    NotificationSummary,
    SmsPreference,
    SmsPreferenceRead,
)
from app.services import audit, devices, notifications
from app.services.access import Permission
from app.services.members import MemberTarget

router = area_router(tags=["notifications"])

NotificationId = Annotated[int, Path(ge=1, le=MAX_ID, description="Notification id."), Digits]
DeviceId = Annotated[int, Path(ge=1, le=MAX_ID, description="Device id."), Digits]


@router.get(
    "/me/notifications",
    response_model=Page[NotificationSummary],
    responses=problems(400, 401, 422),
)
async def list_my_notifications(
    actor: CurrentActor,
    reader: ReaderDep,
    unread_only: Annotated[bool, Query(description="Only those not read yet."), QueryFlag] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """My inbox, newest first: every notice reaches it, pushed or not."""
    items, next_cursor = await notifications.list_notifications(
        reader, actor.member_id, limit=limit, cursor=cursor, unread_only=unread_only
    )
    # A hot read (the bench's inbox): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.post(
    "/me/notifications/{notification_id}/read",
    response_model=NotificationSummary,
    responses=problems(401, 422, codes={404: ["notification.not_found"]}),
)
async def mark_notification_read(
    notification_id: NotificationId, actor: CurrentActor, session: SessionDep
) -> NotificationSummary:
    """Mark one notification read (again is fine)."""
    return await notifications.mark_read(session, actor.member_id, notification_id)


@router.post(
    "/me/notifications/read-all",
    response_model=MarkedRead,
    responses=problems(401, 413, 422),
)
async def mark_all_notifications_read(
    body: MarkAllRead, actor: CurrentActor, session: SessionDep
) -> MarkedRead:
    """Mark every unread notification read (up to `up_to_id` when given)."""
    marked = await notifications.mark_all_read(session, actor.member_id, up_to_id=body.up_to_id)
    return MarkedRead(marked=marked)


@router.get(
    "/me/notification-preferences",
    response_model=NotificationPreferenceRead,
    responses=problems(401),
)
async def get_my_notification_preferences(
    actor: CurrentActor, session: SessionDep
) -> NotificationPreferenceRead:
    """Which kinds are pushed, quiet hours, and whether notices come by SMS."""
    return await notifications.get_preferences(session, actor.member_id)


@router.patch(
    "/me/notification-preferences",
    response_model=NotificationPreferenceRead,
    responses=problems(401, 413, codes={422: ["notification.quiet_hours_incomplete"]}),
)
async def update_my_notification_preferences(
    body: NotificationPreferenceUpdate, actor: CurrentActor, session: SessionDep
) -> NotificationPreferenceRead:
    """Change the fields sent. Account notices are always pushed; meeting reminders are on
    unless muted; quiet hours hold back non-urgent pushes (they still reach the inbox)."""
    return await notifications.update_preferences(
        session, actor.member_id, body, by_member_id=actor.member_id
    )


@router.get("/me/devices", response_model=list[DeviceRead], responses=problems(401))
async def list_my_devices(actor: CurrentActor, session: SessionDep) -> list[DeviceRead]:
    """The devices that receive my pushes (never their tokens)."""
    return await devices.list_devices(session, actor.member_id)


@router.post(
    "/me/devices",
    status_code=status.HTTP_201_CREATED,
    response_model=DeviceRead,
    responses=problems(401, 413, 422),
)
async def register_my_device(
    body: DeviceRegister, actor: CurrentActor, session: SessionDep
) -> DeviceRead:
    """Register this device's push token (call it at every start: it also refreshes the token;
    a token another member registered moves to me)."""
    return await devices.register_device(session, actor.member_id, body)


@router.delete(
    "/me/devices/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 422, codes={404: ["device.not_found"]}),
)
async def unregister_my_device(
    device_id: DeviceId, actor: CurrentActor, session: SessionDep
) -> None:
    """Stop pushes to one of my devices (at logout, the app removes its own)."""
    await devices.unregister_device(session, actor.member_id, device_id)


@router.put(
    "/members/{member_id}/sms-preference",
    response_model=SmsPreferenceRead,
    responses=problems(401, 403, 404, 413, 422),
)
async def set_member_sms_preference(
    body: SmsPreference,
    member: Annotated[MemberTarget, Depends(MemberScope(Permission.MEMBER_ASSIST))],
    actor: CurrentActor,
    session: SessionDep,
) -> SmsPreferenceRead:
    """For a member without a smartphone: their secretary has notices reach them by SMS.
    Recorded as done on the member's behalf."""
    before = await notifications.get_preferences(session, member.id)
    read = await notifications.set_sms_preferred(
        session, member.id, body.is_sms_preferred, by_member_id=actor.member_id
    )
    if before.is_sms_preferred != read.is_sms_preferred:
        await audit.record(
            session,
            actor,
            "member.sms_preference",
            target=("member", member.id),
            org_id=member.branch_id,
            changes={"is_sms_preferred": [before.is_sms_preferred, read.is_sms_preferred]},
            on_behalf_of=member.id,
        )
    return SmsPreferenceRead(member_id=member.id, is_sms_preferred=read.is_sms_preferred)
