"""Devices, the inbox and preferences at the service level (the routes come with the seams)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Reader
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import InvalidCursor
from app.models import Device, NoticeKind, Notification
from app.models.base import utcnow
from app.schemas.notification import DeviceRegister, NotificationPreferenceUpdate
from app.services import devices, notifications
from tests.factories import Tree

TOKEN = "fcm-token-" + "A1b2_C3d4-" * 15


def register(token: str = TOKEN, **fields: object) -> DeviceRegister:
    return DeviceRegister(token=token, platform="android", **fields)  # type: ignore[arg-type]


async def test_registering_a_device_stores_the_token_and_never_returns_it(
    session: AsyncSession, tree: Tree
) -> None:
    read = await devices.register_device(
        session, tree.member.id, register(app_version="2.3.0", locale="vi-VN")
    )
    assert "token" not in read.model_dump()
    device = await session.get(Device, read.id)
    assert device is not None
    assert device.token == TOKEN
    assert device.token_hash == devices.token_digest(TOKEN)
    assert (read.app_version, read.locale) == ("2.3.0", "vi-VN")


async def test_registering_the_same_token_again_updates_one_row(
    session: AsyncSession, tree: Tree
) -> None:
    first = await devices.register_device(session, tree.member.id, register(app_version="1"))
    again = await devices.register_device(session, tree.member.id, register(app_version="2"))
    assert first.id == again.id
    assert again.app_version == "2"
    assert len(await devices.list_devices(session, tree.member.id)) == 1


async def test_a_token_registered_by_another_member_moves_to_them(
    session: AsyncSession, tree: Tree
) -> None:
    mine = await devices.register_device(session, tree.member.id, register())
    theirs = await devices.register_device(session, tree.secretary.id, register())
    assert theirs.id == mine.id
    assert await devices.list_devices(session, tree.member.id) == []
    assert [d.id for d in await devices.list_devices(session, tree.secretary.id)] == [mine.id]


async def test_a_member_keeps_at_most_max_devices(session: AsyncSession, tree: Tree) -> None:
    for n in range(devices.MAX_DEVICES + 3):
        await devices.register_device(
            session, tree.member.id, register(f"{TOKEN}{n:02d}"), now=utcnow() + timedelta(n)
        )
    kept = await devices.list_devices(session, tree.member.id)
    assert len(kept) == devices.MAX_DEVICES
    assert min(d.last_seen_at for d in kept) > utcnow() + timedelta(days=2)  # oldest went


@pytest.mark.parametrize(
    "token",
    ["short", "x" * 4097, "has spaces " + "x" * 40, "ký-tự-có-dấu-" + "x" * 40, "a\x00" + "b" * 40],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValidationError):
        register(token)


def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(ValidationError):
        DeviceRegister(token=TOKEN, platform="symbian")  # type: ignore[arg-type]


async def test_unregistering_someone_elses_device_is_not_found(
    session: AsyncSession, tree: Tree
) -> None:
    read = await devices.register_device(session, tree.member.id, register())
    with pytest.raises(NotFound):
        await devices.unregister_device(session, tree.secretary.id, read.id)
    await devices.unregister_device(session, tree.member.id, read.id)
    assert await devices.list_devices(session, tree.member.id) == []
    assert not await devices.unregister_token(session, tree.member.id, TOKEN)


async def _inbox(session: AsyncSession, member_id: int, count: int) -> list[int]:
    ids = []
    for n in range(count):
        row = Notification(
            member_id=member_id,
            kind=NoticeKind.GENERAL,
            title=f"Thông báo số {n}",
            body="Nội dung ngắn",
            data={"document_id": str(n)},
        )
        session.add(row)
        await session.flush()
        ids.append(row.id)
    return ids


async def test_the_inbox_lists_newest_first_in_keyset_pages(
    session: AsyncSession, tree: Tree, reader: Reader
) -> None:
    ids = await _inbox(session, tree.member.id, 5)
    await _inbox(session, tree.secretary.id, 2)
    await session.commit()  # the inbox is read on the lean reader (committed data)
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        items, cursor = await notifications.list_notifications(
            reader, tree.member.id, limit=2, cursor=cursor
        )
        seen += [item["id"] for item in items]
        assert all(isinstance(item["data"], dict) for item in items)
        assert all(item["created_at"].tzinfo is not None for item in items)
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    with pytest.raises(InvalidCursor):
        await notifications.list_notifications(reader, tree.member.id, limit=2, cursor="bm9wZQ")


async def test_unread_count_and_marking_read(
    session: AsyncSession, tree: Tree, reader: Reader
) -> None:
    ids = await _inbox(session, tree.member.id, 4)
    await session.commit()
    assert await notifications.unread_count(session, tree.member.id) == 4
    rows = await reader.fetch(notifications.UNREAD_COUNT, {"member_id": tree.member.id})
    assert rows[0]["unread"] == 4
    read = await notifications.mark_read(session, tree.member.id, ids[0])
    assert read.read_at is not None
    again = await notifications.mark_read(session, tree.member.id, ids[0])
    assert again.read_at == read.read_at  # idempotent
    with pytest.raises(NotFound):
        await notifications.mark_read(session, tree.secretary.id, ids[1])
    assert await notifications.mark_all_read(session, tree.member.id, up_to_id=ids[2]) == 2
    assert await notifications.unread_count(session, tree.member.id) == 1
    await session.commit()
    unread, _ = await notifications.list_notifications(
        reader, tree.member.id, limit=10, unread_only=True
    )
    assert [item["id"] for item in unread] == [ids[3]]
    assert await notifications.mark_all_read(session, tree.member.id) == 1
    assert await notifications.unread_count(session, tree.member.id) == 0


async def test_preferences_default_then_update(session: AsyncSession, tree: Tree) -> None:
    prefs = await notifications.get_preferences(session, tree.member.id)
    assert prefs.muted_kinds == []
    assert prefs.is_sms_preferred is False
    updated = await notifications.update_preferences(
        session,
        tree.member.id,
        NotificationPreferenceUpdate(
            muted_kinds=[NoticeKind.ARTICLE, NoticeKind.ACCOUNT],
            quiet_start=time(22, 0),
            quiet_end=time(6, 0),
        ),
        by_member_id=tree.member.id,
    )
    assert updated.muted_kinds == [NoticeKind.ARTICLE]  # account notices cannot be muted
    assert (updated.quiet_start, updated.quiet_end) == (time(22, 0), time(6, 0))
    by_secretary = await notifications.set_sms_preferred(
        session, tree.member.id, True, by_member_id=tree.secretary.id
    )
    assert by_secretary.is_sms_preferred is True
    assert by_secretary.muted_kinds == [NoticeKind.ARTICLE]  # untouched fields stay
    with pytest.raises(Unprocessable):
        await notifications.update_preferences(
            session,
            tree.member.id,
            NotificationPreferenceUpdate(quiet_start=None),
            by_member_id=tree.member.id,
        )
    count = await session.scalar(select(func.count()).select_from(Notification))
    assert count == 0
