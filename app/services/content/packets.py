"""Packets: an ordered set of documents and media for a conference or a monthly bulletin,
opened by a QR code in the app (after login) and, while marked public, by guests without login
until `public_until` (confidential documents never go into a public packet).

Made by the org's editors for its subtree; items are published documents of the org or above
(so everyone the packet reaches may read them) and media uploads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, Gone, NotFound, Unprocessable
from app.integrations.storage import Storage
from app.models import Document, DocumentFile, DocumentStatus, Org, Packet, PacketItem, Upload
from app.models.base import utcnow
from app.schemas.content import PacketCreate, PacketItemCreate
from app.services import access, audit
from app.services.access import Actor
from app.services.content.documents import app_link
from app.services.orgs import OrgTarget
from app.services.uploads import UploadPurpose
from app.services.uploads import records as upload_records

NOT_FOUND = "packet.not_found"
MAX_PUBLIC_DAYS = 90
MAX_ITEMS = 100
LINK_TTL_S = 3600

_p = Packet.__table__
_o = Org.__table__


@dataclass(frozen=True, slots=True)
class PacketTarget:
    id: int
    org_id: int
    path: str

    @property
    def owner_id(self) -> None:
        return None


_TARGET = FastQuery(
    select(_p.c.id, _p.c.org_id, _o.c.path)
    .join(_o, _o.c.id == _p.c.org_id)
    .where(_p.c.id == bindparam("packet_id", type_=BigInteger))
)


async def load_target(reader: Reader, packet_id: int) -> PacketTarget | None:
    rows = await reader.fetch(_TARGET, {"packet_id": packet_id})
    if not rows:
        return None
    row = rows[0]
    return PacketTarget(id=row["id"], org_id=row["org_id"], path=row["path"])


def public_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url}/api/v1/public/packets/{token}"


def _check_until(until: datetime | None) -> None:
    if until is None:
        return
    now = utcnow()
    if until <= now or until > now + timedelta(days=MAX_PUBLIC_DAYS):
        raise Unprocessable(
            f"Thời hạn công khai phải trong vòng {MAX_PUBLIC_DAYS} ngày tới.",
            code="packet.invalid_public_until",
        )


async def create_packet(
    session: AsyncSession, actor: Actor, org: OrgTarget, body: PacketCreate
) -> int:
    _check_until(body.public_until)
    now = utcnow()
    packet = Packet(
        org_id=org.id,
        kind=body.kind,
        title=body.title,
        description=body.description,
        public_token=secrets.token_urlsafe(24) if body.public_until else None,
        public_until=body.public_until,
        created_by_id=actor.member_id,
        created_at=now,
        updated_at=now,
    )
    session.add(packet)
    await session.flush()
    await audit.record(
        session,
        actor,
        "packet.create",
        target=("packet", packet.id),
        org_id=org.id,
        detail={"title": packet.title, "public_until": body.public_until},
    )
    return packet.id


async def read_packet(session: AsyncSession, settings: Settings, packet_id: int) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                select(_p, _o.c.name.label("org_name"), _o.c.kind.label("org_kind"))
                .join(_o, _o.c.id == _p.c.org_id)
                .where(_p.c.id == packet_id)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(code=NOT_FOUND)
    items = (
        await session.execute(
            select(
                PacketItem.id,
                PacketItem.position,
                PacketItem.title,
                PacketItem.document_id,
                PacketItem.filename,
                PacketItem.content_type,
                PacketItem.size,
            )
            .where(PacketItem.packet_id == packet_id)
            .order_by(PacketItem.position, PacketItem.id)
        )
    ).mappings()
    live = row["public_token"] is not None and row["public_until"] is not None
    return {
        "id": row["id"],
        "org": {"id": row["org_id"], "name": row["org_name"], "kind": row["org_kind"]},
        "kind": row["kind"],
        "title": row["title"],
        "description": row["description"],
        "public_until": row["public_until"],
        "public_url": public_url(settings, row["public_token"]) if live else None,
        "link": app_link(settings, "packets", row["id"]),
        "created_at": row["created_at"],
        "items": [dict(i) for i in items],
    }


_MEDIA_PURPOSES = frozenset({UploadPurpose.MEDIA, UploadPurpose.DOCUMENT, UploadPurpose.IMAGE})


async def add_item(
    session: AsyncSession, actor: Actor, target: PacketTarget, body: PacketItemCreate
) -> None:
    if (body.document_id is None) == (body.upload_id is None):
        raise Unprocessable(
            "Cần đúng một trong hai: văn bản hoặc tệp tải lên.", code="packet.item_invalid"
        )
    packet = await session.get(Packet, target.id, with_for_update=True, populate_existing=True)
    if packet is None:
        raise NotFound(code=NOT_FOUND)
    count = await session.scalar(
        select(func.count()).select_from(PacketItem).where(PacketItem.packet_id == packet.id)
    )
    if (count or 0) >= MAX_ITEMS:
        raise Conflict(f"Một bộ tài liệu có tối đa {MAX_ITEMS} mục.", code="packet.too_many_items")
    item = PacketItem(packet_id=packet.id, position=(count or 0) + 1, title=body.title or "")
    if body.document_id is not None:
        found = (
            await session.execute(
                select(Document.title, Document.status, Document.is_confidential, _o.c.path)
                .join(_o, _o.c.id == Document.org_id)
                .where(Document.id == body.document_id)
            )
        ).one_or_none()
        # Only what every member the packet reaches may read: published, by this org or above.
        if (
            found is None
            or found.status != DocumentStatus.PUBLISHED
            or not access.in_subtree(target.path, found.path)
        ):
            raise NotFound(code="document.not_found")
        if found.is_confidential and packet.public_token is not None:
            raise Conflict(
                "Văn bản mật không được đưa vào bộ tài liệu công khai.",
                code="packet.confidential_in_public",
            )
        item.document_id = body.document_id
        item.title = body.title or found.title
    elif body.upload_id is not None:
        upload = await session.get(Upload, body.upload_id)
        if upload is None or upload.purpose not in _MEDIA_PURPOSES:
            raise NotFound(code="upload.not_found")
        taken = await upload_records.take(
            session, actor, upload.id, purpose=UploadPurpose(upload.purpose)
        )
        item.storage_key = taken.storage_key
        item.filename = taken.filename
        item.content_type = taken.content_type
        item.size = taken.size
        item.title = body.title or taken.filename
    session.add(item)
    packet.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        "packet.add_item",
        target=("packet", packet.id),
        org_id=packet.org_id,
        detail={"item_id": item.id, "document_id": item.document_id},
    )


async def item_link(
    session: AsyncSession, storage: Storage, target: PacketTarget, item_id: int
) -> dict[str, Any]:
    item = await session.get(PacketItem, item_id)
    if item is None or item.packet_id != target.id or item.storage_key is None:
        raise NotFound("Không tìm thấy tệp.", code="packet.item_not_found")
    url = await storage.presign_get(
        item.storage_key, filename=item.filename, expires_s=LINK_TTL_S, inline=True
    )
    return {"url": url, "expires_in": LINK_TTL_S}


async def public_packet(session: AsyncSession, storage: Storage, token: str) -> dict[str, Any]:
    """What a guest sees: titles, numbers, summaries and signed links; no login."""
    row = (
        await session.execute(
            select(Packet, _o.c.name)
            .join(_o, _o.c.id == Packet.org_id)
            .where(Packet.public_token == token)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(code=NOT_FOUND)
    packet, org_name = row
    if packet.public_until is None or packet.public_until <= utcnow():
        raise Gone("Bộ tài liệu đã hết thời hạn công khai.", code="packet.expired")
    items = (
        await session.scalars(
            select(PacketItem)
            .where(PacketItem.packet_id == packet.id)
            .order_by(PacketItem.position, PacketItem.id)
        )
    ).all()
    out = []
    for item in items:
        if item.document_id is None:
            if item.storage_key is None:
                continue
            url = await storage.presign_get(
                item.storage_key, filename=item.filename, expires_s=LINK_TTL_S, inline=True
            )
            files = [
                {
                    "filename": item.filename,
                    "content_type": item.content_type,
                    "size": item.size,
                    "url": url,
                }
            ]
            out.append({"title": item.title, "number": None, "summary": None, "files": files})
            continue
        document = await session.get(Document, item.document_id)
        if (
            document is None
            or document.is_confidential
            or document.status != DocumentStatus.PUBLISHED
        ):
            continue
        attached = (
            await session.scalars(
                select(DocumentFile)
                .where(DocumentFile.document_id == document.id)
                .order_by(DocumentFile.position)
            )
        ).all()
        files = [
            {
                "filename": f.filename,
                "content_type": f.content_type,
                "size": f.size,
                "url": await storage.presign_get(
                    f.storage_key, filename=f.filename, expires_s=LINK_TTL_S
                ),
            }
            for f in attached
        ]
        out.append(
            {
                "title": item.title,
                "number": document.number,
                "summary": document.summary,
                "files": files,
            }
        )
    return {
        "title": packet.title,
        "description": packet.description,
        "org_name": org_name,
        "public_until": packet.public_until,
        "items": out,
    }
