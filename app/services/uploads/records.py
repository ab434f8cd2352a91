"""The upload area: rows for checked files, owned by the member who sent them.

- `receive`: a file streamed in the request body, checked (`intake.receive_upload`), stored,
  and recorded `ready`.
- `start_presigned` / `complete`: large media go straight to the object storage; the row is
  `pending` until `complete` checks what arrived.
- `open_content`: the bytes (or one range) for the owner.

Areas attach an upload by id (`take`), after checking its purpose and owner; an upload nobody
takes expires (`UPLOAD__UNATTACHED_TTL_H`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, NotFound
from app.integrations.storage import ByteRange, ObjectStream, Storage
from app.models import Member, Upload
from app.models.base import utcnow
from app.services.access import Actor
from app.services.uploads.intake import (
    UploadPurpose,
    confirm_presigned_upload,
    receive_upload,
    start_presigned_upload,
    store_upload,
    upload_policy,
)

READY = "ready"
PENDING = "pending"

_u = Upload.__table__
_m = Member.__table__


@dataclass(frozen=True, slots=True)
class UploadTarget:
    id: int
    path: str  # the owner's branch path
    owner_id: int
    status: str


_TARGET = FastQuery(
    select(_u.c.id, _u.c.member_id, _u.c.status, _m.c.org_path)
    .join(_m, _m.c.id == _u.c.member_id)
    .where(_u.c.id == bindparam("upload_id", type_=BigInteger))
)


async def load_target(reader: Reader, upload_id: int) -> UploadTarget | None:
    rows = await reader.fetch(_TARGET, {"upload_id": upload_id})
    if not rows:
        return None
    row = rows[0]
    return UploadTarget(
        id=row["id"], path=row["org_path"], owner_id=row["member_id"], status=row["status"]
    )


def _read(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "purpose": upload.purpose,
        "status": upload.status,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "sha256": upload.sha256,
        "created_at": upload.created_at,
        "expires_at": upload.expires_at,
        "attached": upload.attached_at is not None,
    }


def _key_prefix(purpose: UploadPurpose, actor: Actor) -> str:
    return f"uploads/{purpose.value}/{utcnow():%Y/%m}/m{actor.member_id}"


async def receive(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    actor: Actor,
    *,
    purpose: UploadPurpose,
    chunks: Any,
    declared_name: str | None,
    declared_type: str | None,
) -> dict[str, Any]:
    """Check and store a file streamed in the request, then record it (no database work while
    the bytes arrive: on SQLite a write transaction would hold every other writer)."""
    policy = upload_policy(purpose, settings.upload)
    received = await receive_upload(
        chunks,
        policy=policy,
        declared_name=declared_name,
        declared_type=declared_type,
        tmp_dir=settings.upload_tmp_dir,
    )
    stored = await store_upload(storage, received, _key_prefix(purpose, actor))
    now = utcnow()
    upload = Upload(
        member_id=actor.member_id,
        purpose=purpose.value,
        status=READY,
        storage_key=stored.key,
        filename=stored.filename,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        created_at=now,
        expires_at=now + timedelta(hours=settings.upload.unattached_ttl_h),
    )
    session.add(upload)
    await session.flush()
    return _read(upload)


async def start_presigned(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    actor: Actor,
    *,
    purpose: UploadPurpose,
    content_type: str,
    filename: str | None,
) -> dict[str, Any]:
    policy = upload_policy(purpose, settings.upload)
    pending = await start_presigned_upload(
        storage, policy=policy, content_type=content_type, key_prefix=_key_prefix(purpose, actor)
    )
    upload = Upload(
        member_id=actor.member_id,
        purpose=purpose.value,
        status=PENDING,
        storage_key=pending.key,
        filename=(filename or "tep")[:255],
        content_type=content_type.split(";", 1)[0].strip().lower()[:128],
        created_at=utcnow(),
        expires_at=pending.expires_at + timedelta(hours=settings.upload.unattached_ttl_h),
    )
    session.add(upload)
    await session.flush()
    return {
        "upload": _read(upload),
        "url": pending.url,
        "method": pending.method,
        "headers": pending.headers,
        "max_bytes": pending.max_bytes,
        "expires_at": pending.expires_at,
    }


async def _locked(session: AsyncSession, upload_id: int) -> Upload:
    upload = await session.get(Upload, upload_id, with_for_update=True, populate_existing=True)
    if upload is None:
        raise NotFound(code="upload.not_found")
    return upload


async def complete(
    session: AsyncSession, storage: Storage, settings: Settings, upload_id: int
) -> dict[str, Any]:
    """Check the object a presigned upload put into the storage; `ready` once it passes."""
    upload = await _locked(session, upload_id)
    if upload.status == READY:
        return _read(upload)
    policy = upload_policy(UploadPurpose(upload.purpose), settings.upload)
    stored = await confirm_presigned_upload(
        storage,
        upload.storage_key,
        policy=policy,
        declared_name=upload.filename,
        tmp_dir=settings.upload_tmp_dir,
    )
    upload.status = READY
    upload.size = stored.size
    upload.filename = stored.filename
    upload.content_type = stored.content_type
    await session.flush()
    return _read(upload)


async def read(session: AsyncSession, upload_id: int) -> dict[str, Any]:
    upload = await session.get(Upload, upload_id)
    if upload is None:
        raise NotFound(code="upload.not_found")
    return _read(upload)


@dataclass(frozen=True, slots=True)
class Content:
    stream: ObjectStream
    filename: str


async def open_content(
    session: AsyncSession, storage: Storage, upload_id: int, byte_range: ByteRange | None
) -> Content:
    upload = await session.get(Upload, upload_id)
    if upload is None:
        raise NotFound(code="upload.not_found")
    if upload.status != READY:
        raise Conflict("Tệp chưa được tải lên xong.", code="upload.not_ready")
    stream = await storage.open(upload.storage_key, byte_range)
    return Content(stream=stream, filename=upload.filename)


async def take(
    session: AsyncSession, actor: Actor, upload_id: int, *, purpose: UploadPurpose
) -> Upload:
    """For areas: the actor's own ready upload of this purpose, now attached (it no longer
    expires). 404 `upload.not_found` otherwise (someone else's uploads are not revealed)."""
    upload = await _locked(session, upload_id)
    if upload.member_id != actor.member_id or upload.purpose != purpose.value:
        raise NotFound(code="upload.not_found")
    if upload.status != READY:
        raise Conflict("Tệp chưa được tải lên xong.", code="upload.not_ready")
    if upload.attached_at is not None:
        raise Conflict("Tệp này đã được dùng.", code="upload.already_attached")
    upload.attached_at = utcnow()
    await session.flush()
    return upload
