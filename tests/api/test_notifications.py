"""The inbox, devices and preferences through the API; the unread count on /me/home; a
secretary's SMS switch for a member without a smartphone."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Device, NoticeKind, Notification, NotificationPreference
from app.schemas.common import Page
from app.schemas.notification import NotificationSummary
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect

TOKEN = "fcm-token-" + "a" * 40


async def _inbox(session: AsyncSession, member_id: int, count: int) -> list[int]:
    rows = [
        Notification(
            member_id=member_id,
            kind=NoticeKind.MEETING_REMINDER,
            title=f"Nhắc lịch sinh hoạt {i}",
            body="Chi bộ sinh hoạt lúc 8 giờ sáng mai.",
            data={"meeting_id": str(i)},
        )
        for i in range(count)
    ]
    session.add_all(rows)
    await session.commit()
    return [row.id for row in rows]


async def test_the_inbox_pages_and_counts_unread_on_home(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    ids = await _inbox(session, tree.member.id, 5)
    await _inbox(session, tree.secretary.id, 2)
    headers = await as_actor(tree.member.id)
    home = (await client.get("/api/v1/me/home", headers=headers)).json()
    assert home["unread_notifications"] == 5
    items = await collect(client, "/api/v1/me/notifications", headers)
    assert [item["id"] for item in items] == sorted(ids, reverse=True)
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (await client.get("/api/v1/me/notifications?limit=2", headers=headers)).json()
    assert page["next_cursor"]
    assert Page[NotificationSummary].model_validate(page).model_dump(mode="json") == page
    assert items[0]["data"] == {"meeting_id": "4"}
    read = await client.post(f"/api/v1/me/notifications/{ids[0]}/read", headers=headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = await collect(client, "/api/v1/me/notifications", headers, {"unread_only": True})
    assert len(unread) == 4
    marked = await client.post(
        "/api/v1/me/notifications/read-all", json={"up_to_id": ids[2]}, headers=headers
    )
    assert marked.json() == {"marked": 2}
    assert (await client.get("/api/v1/me/home", headers=headers)).json()[
        "unread_notifications"
    ] == 2
    # Someone else's notification is not found, and stays unread.
    other = await session.scalar(
        select(Notification.id).where(Notification.member_id == tree.secretary.id)
    )
    refused = await client.post(f"/api/v1/me/notifications/{other}/read", headers=headers)
    assert_problem(refused, 404, "notification.not_found")
    row = await session.get(Notification, other, populate_existing=True)
    assert row is not None
    assert row.read_at is None


async def test_devices_register_move_and_go(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    member = await as_actor(tree.member.id)
    body = {"token": TOKEN, "platform": "android", "app_version": "1.4.0", "locale": "vi-VN"}
    first = await client.post("/api/v1/me/devices", json=body, headers=member)
    assert first.status_code == 201
    assert "token" not in first.json()
    again = await client.post("/api/v1/me/devices", json=body, headers=member)
    assert again.json()["id"] == first.json()["id"]
    # The phone changes hands: the same token registered by the secretary moves to them.
    secretary = await as_actor(tree.secretary.id)
    moved = await client.post("/api/v1/me/devices", json=body, headers=secretary)
    assert moved.json()["id"] == first.json()["id"]
    assert (await client.get("/api/v1/me/devices", headers=member)).json() == []
    owner = await session.scalar(
        select(Device.member_id)
        .where(Device.id == first.json()["id"])
        .execution_options(populate_existing=True)
    )
    assert owner == tree.secretary.id
    gone = await client.delete(f"/api/v1/me/devices/{first.json()['id']}", headers=member)
    assert_problem(gone, 404, "device.not_found")
    removed = await client.delete(f"/api/v1/me/devices/{first.json()['id']}", headers=secretary)
    assert removed.status_code == 204
    assert await session.get(Device, first.json()["id"], populate_existing=True) is None


async def test_preferences_and_the_secretarys_sms_switch(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    member = await as_actor(tree.exempt.id)
    changed = await client.patch(
        "/api/v1/me/notification-preferences",
        json={
            "muted_kinds": ["document", "account"],
            "quiet_start": "22:00:00",
            "quiet_end": "06:00:00",
        },
        headers=member,
    )
    assert changed.status_code == 200
    assert changed.json()["muted_kinds"] == ["document"]  # account notices always go out
    half = await client.patch(
        "/api/v1/me/notification-preferences", json={"quiet_end": None}, headers=member
    )
    assert_problem(half, 422, "notification.quiet_hours_incomplete")
    secretary = await as_actor(tree.secretary.id)
    switched = await client.put(
        f"/api/v1/members/{tree.exempt.id}/sms-preference",
        json={"is_sms_preferred": True},
        headers=secretary,
    )
    assert switched.json() == {"member_id": tree.exempt.id, "is_sms_preferred": True}
    stored = await session.get(NotificationPreference, tree.exempt.id, populate_existing=True)
    assert stored is not None
    assert stored.is_sms_preferred
    assert stored.updated_by_id == tree.secretary.id
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "member.sms_preference")
    )
    assert event is not None
    assert (event.actor_id, event.on_behalf_of_id) == (tree.secretary.id, tree.exempt.id)
    mine = (await client.get("/api/v1/me/notification-preferences", headers=member)).json()
    assert mine["is_sms_preferred"] is True
