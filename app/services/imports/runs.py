"""Import runs and roster exports as objects: create, read, list, apply, download links.

An import belongs to the org it imports into (its guard checks that org's path); the work runs
in the worker (`CHECK_JOB`, `APPLY_JOB`, `EXPORT_JOB`), enqueued in the request's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import BigInteger, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import FastQuery, Reader
from app.core.errors import Conflict, NotFound
from app.core.pagination import decode_cursor, page_of
from app.integrations.storage import Storage
from app.models import (
    ExportStatus,
    ImportStatus,
    MemberExport,
    MemberImport,
    MemberImportRow,
    Org,
)
from app.models.base import utcnow
from app.services import access, audit, jobs
from app.services.access import Actor, Permission
from app.services.orgs import OrgTarget
from app.services.uploads import UploadPurpose
from app.services.uploads import records as upload_records

CHECK_JOB: Final = "import.check"
APPLY_JOB: Final = "import.apply"
EXPORT_JOB: Final = "export.members"
# An import's phases are long: a lost worker's job is taken over and resumes at its cursor.
MAX_ATTEMPTS: Final = 5

_i = MemberImport.__table__
_x = MemberExport.__table__
_r = MemberImportRow.__table__
_org = Org.__table__


@dataclass(frozen=True, slots=True)
class RunTarget:
    """An import or an export: scoped by the org it is for."""

    id: int
    org_id: int
    path: str

    @property
    def owner_id(self) -> None:
        return None


_IMPORT_TARGET = FastQuery(
    select(_i.c.id, _i.c.org_id, _org.c.path)
    .join(_org, _org.c.id == _i.c.org_id)
    .where(_i.c.id == bindparam("import_id", type_=BigInteger))
)
_EXPORT_TARGET = FastQuery(
    select(_x.c.id, _x.c.org_id, _org.c.path)
    .join(_org, _org.c.id == _x.c.org_id)
    .where(_x.c.id == bindparam("export_id", type_=BigInteger))
)


async def load_import_target(reader: Reader, import_id: int) -> RunTarget | None:
    rows = await reader.fetch(_IMPORT_TARGET, {"import_id": import_id})
    return RunTarget(rows[0]["id"], rows[0]["org_id"], rows[0]["path"]) if rows else None


async def load_export_target(reader: Reader, export_id: int) -> RunTarget | None:
    rows = await reader.fetch(_EXPORT_TARGET, {"export_id": export_id})
    return RunTarget(rows[0]["id"], rows[0]["org_id"], rows[0]["path"]) if rows else None


# --- imports -------------------------------------------------------------------------------------


def _counts(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value else None


def import_read(run: MemberImport) -> dict[str, Any]:
    return {
        "id": run.id,
        "org_id": run.org_id,
        "filename": run.filename,
        "allow_transfers": bool(run.allow_transfers),
        "status": run.status,
        "progress": _counts(run.counts),
        "checked": _counts(run.checked_counts),
        "error": (
            {"code": run.error_code, "detail": run.error_detail or ""} if run.error_code else None
        ),
        "has_report": run.report_key is not None,
        "created_by_id": run.created_by_id,
        "applied_by_id": run.applied_by_id,
        "created_at": run.created_at,
        "checked_at": run.checked_at,
        "applied_at": run.applied_at,
    }


async def create_import(
    session: AsyncSession,
    actor: Actor,
    org: OrgTarget,
    upload_id: int,
    *,
    allow_transfers: bool = False,
) -> dict[str, Any]:
    """Take the actor's upload and start the dry run. With `allow_transfers`, a card number of a
    member of another branch is a transfer of that member (when the officer who runs each phase
    may manage members of both branches), not a refused row."""
    upload = await upload_records.take(session, actor, upload_id, purpose=UploadPurpose.IMPORT)
    now = utcnow()
    run = MemberImport(
        org_id=org.id,
        created_by_id=actor.member_id,
        upload_id=upload.id,
        filename=upload.filename,
        allow_transfers=allow_transfers,
        status=ImportStatus.CHECKING,
        next_row=0,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    await session.flush()
    await jobs.enqueue(
        session, CHECK_JOB, {"import_id": run.id}, max_attempts=MAX_ATTEMPTS, now=now
    )
    await audit.record(
        session,
        actor,
        "member_import.create",
        target=("member_import", run.id),
        org_id=org.id,
        detail={
            "filename": upload.filename,
            "upload_id": upload.id,
            "size": upload.size,
            "allow_transfers": allow_transfers,
        },
    )
    return import_read(run)


async def read_import(session: AsyncSession, import_id: int) -> dict[str, Any]:
    run = await session.get(MemberImport, import_id, populate_existing=True)
    if run is None:
        raise NotFound(code="import.not_found")
    return import_read(run)


async def list_org_imports(
    session: AsyncSession, org: OrgTarget, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first."""
    query = select(_i.c.id, _i.c.filename, _i.c.status, _i.c.created_at).where(
        _i.c.org_id == org.id
    )
    if cursor:
        (last_id,) = decode_cursor(cursor, "imports", (int,))
        query = query.where(_i.c.id < last_id)
    rows = (await session.execute(query.order_by(_i.c.id.desc()).limit(limit + 1))).mappings()
    page, next_cursor = page_of(list(rows), limit, "imports", lambda r: (r["id"],))
    return [dict(r) for r in page], next_cursor


async def list_rejected_rows(
    session: AsyncSession, import_id: int, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The refused rows of the current phase, in file order."""
    query = select(_r.c.row, _r.c.cells, _r.c.problems).where(_r.c.import_id == import_id)
    if cursor:
        (last_row,) = decode_cursor(cursor, "import-rows", (int,))
        query = query.where(_r.c.row > last_row)
    rows = (await session.execute(query.order_by(_r.c.row).limit(limit + 1))).mappings()
    page, next_cursor = page_of(list(rows), limit, "import-rows", lambda r: (r["row"],))
    return [dict(r) for r in page], next_cursor


async def apply_import(session: AsyncSession, actor: Actor, import_id: int) -> dict[str, Any]:
    """Start applying a checked import (once: a second request is refused)."""
    run = await session.get(MemberImport, import_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(code="import.not_found")
    if run.status in (ImportStatus.APPLYING, ImportStatus.APPLIED):
        raise Conflict("Tệp này đã được cập nhật vào dữ liệu.", code="import.already_applied")
    if run.status != ImportStatus.CHECKED:
        raise Conflict(
            "Chỉ cập nhật được sau khi kiểm tra thử thành công.", code="import.not_checked"
        )
    now = utcnow()
    run.status = ImportStatus.APPLYING
    run.applied_by_id = actor.member_id
    run.next_row = 0
    run.counts = None
    run.updated_at = now
    await session.execute(delete(MemberImportRow).where(MemberImportRow.import_id == run.id))
    await session.flush()
    await jobs.enqueue(
        session, APPLY_JOB, {"import_id": run.id}, max_attempts=MAX_ATTEMPTS, now=now
    )
    await audit.record(
        session,
        actor,
        "member_import.apply",
        target=("member_import", run.id),
        org_id=run.org_id,
        detail={
            "filename": run.filename,
            "allow_transfers": run.allow_transfers,
            **(run.checked_counts or {}),
        },
    )
    return import_read(run)


async def link(storage: Storage, settings: Settings, key: str, filename: str) -> dict[str, Any]:
    ttl = settings.imports.link_ttl_s
    url = await storage.presign_get(key, expires_s=ttl, filename=filename)
    return {"url": url, "expires_at": utcnow() + timedelta(seconds=ttl)}


async def report_link(
    session: AsyncSession, storage: Storage, settings: Settings, import_id: int
) -> dict[str, Any]:
    run = await session.get(MemberImport, import_id, populate_existing=True)
    if run is None:
        raise NotFound(code="import.not_found")
    if run.report_key is None:
        raise Conflict("Báo cáo chưa sẵn sàng.", code="import.report_not_ready")
    stem = run.filename.rsplit(".", 1)[0]
    return await link(storage, settings, run.report_key, f"Báo cáo nhập - {stem}.xlsx")


# --- exports -------------------------------------------------------------------------------------


async def create_export(
    session: AsyncSession, actor: Actor, org: OrgTarget, fmt: str
) -> dict[str, Any]:
    now = utcnow()
    export = MemberExport(
        org_id=org.id,
        created_by_id=actor.member_id,
        format=fmt,
        include_phones=access.can(actor, Permission.MEMBER_VIEW, org.path),
        status=ExportStatus.PENDING,
        rows=0,
        created_at=now,
    )
    session.add(export)
    await session.flush()
    await jobs.enqueue(
        session, EXPORT_JOB, {"export_id": export.id}, max_attempts=MAX_ATTEMPTS, now=now
    )
    await audit.record(
        session,
        actor,
        "member_export.create",
        target=("member_export", export.id),
        org_id=org.id,
        detail={"format": fmt, "include_phones": export.include_phones},
    )
    return _export_read(export, None)


def _export_read(export: MemberExport, download: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": export.id,
        "org_id": export.org_id,
        "format": export.format,
        "status": export.status,
        "rows": export.rows,
        "include_phones": export.include_phones,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
        "download": download,
        "error_detail": export.error_detail,
    }


async def read_export(
    session: AsyncSession, storage: Storage, settings: Settings, export_id: int
) -> dict[str, Any]:
    export = await session.get(MemberExport, export_id, populate_existing=True)
    if export is None:
        raise NotFound(code="export.not_found")
    download = None
    if export.status == ExportStatus.DONE and export.storage_key:
        download = await link(
            storage, settings, export.storage_key, f"Danh sách đảng viên.{export.format}"
        )
    return _export_read(export, download)
