"""Authorization rows: the member's inbox, devices and preferences (their own, whoever they
are), and the SMS switch a branch's secretary sets for a member."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Device, NoticeKind, Notification
from app.resources import Resources
from tests.authz.harness import SELF, Call, Context, Row, everyone, member_target, pick, table

SELF_CREATED = everyone("201 201 201") | {"anonymous": "401 401 401"}
NOT_MINE = everyone("404 404 404") | {"anonymous": "401 401 401"}


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    """One notification and one device per target, all the teacher's: no caller owns them."""
    notifications, devices = {}, {}
    for target in ("own", "near", "far"):
        note = Notification(
            member_id=ctx.tree.teacher.id,
            kind=NoticeKind.GENERAL,
            title="Thông báo",
            body="",
            data={},
        )
        device = Device(
            member_id=ctx.tree.teacher.id,
            token=f"token-{target}-" + "x" * 40,
            token_hash=f"{target:0<64}"[:64],
            platform="android",
        )
        session.add_all([note, device])
        await session.flush()
        notifications[target], devices[target] = note.id, device.id
    ctx.extra["notifications"] = notifications
    ctx.extra["devices"] = devices


ROWS = {
    "list_my_notifications": Row(lambda c, t: Call("GET", "/api/v1/me/notifications"), SELF),
    "mark_notification_read": Row(
        lambda c, t: Call("POST", f"/api/v1/me/notifications/{c.extra['notifications'][t]}/read"),
        NOT_MINE,
        "notification.not_found",
    ),
    "mark_all_notifications_read": Row(
        lambda c, t: Call("POST", "/api/v1/me/notifications/read-all", {}), SELF
    ),
    "get_my_notification_preferences": Row(
        lambda c, t: Call("GET", "/api/v1/me/notification-preferences"), SELF
    ),
    "update_my_notification_preferences": Row(
        lambda c, t: Call("PATCH", "/api/v1/me/notification-preferences", {"muted_kinds": []}),
        SELF,
    ),
    "list_my_devices": Row(lambda c, t: Call("GET", "/api/v1/me/devices"), SELF),
    "register_my_device": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/me/devices",
            {"token": pick(t, "a", "b", "c") * 40, "platform": "ios"},
        ),
        SELF_CREATED,
    ),
    "unregister_my_device": Row(
        lambda c, t: Call("DELETE", f"/api/v1/me/devices/{c.extra['devices'][t]}"),
        NOT_MINE,
        "device.not_found",
    ),
    # Members without roles in B1, B3 and B4: the branch's secretary and deputy, and the
    # organisation officers of their scope, act for them.
    "set_member_sms_preference": Row(
        lambda c, t: Call(
            "PUT",
            f"/api/v1/members/{member_target(c, t)}/sms-preference",
            {"is_sms_preferred": True},
        ),
        table(
            member="403 404 404",
            secretary="200 404 404",
            deputy="200 404 404",
            committee="403 403 404",
            officer_c1="200 200 404",
            approver="403 403 404",
            officer_root="200 200 200",
            editor="403 403 403",
            admin="200 200 200",
        ),
        "member.not_found",
    ),
}
