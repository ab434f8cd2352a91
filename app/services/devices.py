"""Devices: the FCM registration tokens of a member's app installs.

A token is stored because it has to be sent, but it is looked up by its SHA-256 digest and never
logged or returned. Registering a token another member had moves it to the new member (a shared
or handed-down phone): a push never goes to the previous owner. A member keeps at most
`MAX_DEVICES` devices; the least recently seen go first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import dialect_insert
from app.core.errors import NotFound
from app.models import Device
from app.models.base import utcnow
from app.schemas.notification import DeviceRead, DeviceRegister

MAX_DEVICES = 10


class DeviceNotFound(NotFound):
    default_code = "device.not_found"
    default_detail = "Không tìm thấy thiết bị."


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read(device: Device) -> DeviceRead:
    return DeviceRead.model_validate(device, from_attributes=True)


async def register_device(
    session: AsyncSession, member_id: int, data: DeviceRegister, *, now: datetime | None = None
) -> DeviceRead:
    """Add or refresh a device; a token known under another member moves to this one."""
    now = now or utcnow()
    values = {
        "member_id": member_id,
        "token": data.token,
        "token_hash": token_digest(data.token),
        "platform": str(data.platform),
        "app_version": data.app_version,
        "locale": data.locale,
        "created_at": now,
        "last_seen_at": now,
    }
    statement = dialect_insert(session, Device).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["token_hash"],
        set_={
            name: statement.excluded[name]
            for name in ("member_id", "platform", "app_version", "locale", "last_seen_at")
        },
    )
    device_id = (await session.execute(statement.returning(Device.id))).scalar_one()
    stale = (
        select(Device.id)
        .where(Device.member_id == member_id)
        .order_by(Device.last_seen_at.desc(), Device.id.desc())
        .offset(MAX_DEVICES)
    )
    await session.execute(
        delete(Device)
        .where(Device.id.in_(stale.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    device = await session.get(Device, device_id, populate_existing=True)
    if device is None:  # pragma: no cover - just written in this transaction
        raise DeviceNotFound()
    return _read(device)


async def list_devices(session: AsyncSession, member_id: int) -> list[DeviceRead]:
    rows = await session.scalars(
        select(Device).where(Device.member_id == member_id).order_by(Device.id)
    )
    return [_read(device) for device in rows]


async def unregister_device(session: AsyncSession, member_id: int, device_id: int) -> None:
    """Remove one of the member's devices (404 for anyone else's)."""
    result = await session.execute(
        delete(Device).where(Device.id == device_id, Device.member_id == member_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise DeviceNotFound()


async def unregister_token(session: AsyncSession, member_id: int, token: str) -> bool:
    """Remove the member's device with this token (logout on the app); False if none."""
    result = await session.execute(
        delete(Device).where(
            Device.token_hash == token_digest(token), Device.member_id == member_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def prune(session: AsyncSession, device_ids: Sequence[int]) -> int:
    """Forget devices whose tokens FCM reported dead (unregistered or invalid)."""
    if not device_ids:
        return 0
    result = await session.execute(delete(Device).where(Device.id.in_(list(device_ids))))
    return int(result.rowcount)  # type: ignore[attr-defined]
