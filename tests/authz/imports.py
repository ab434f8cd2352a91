"""Authorization rows: member imports and roster exports (organisation officers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ImportStatus, MemberExport, MemberImport, Upload
from app.models.base import utcnow
from app.resources import Resources
from tests.authz.harness import MANAGE, Call, Context, Row, org_targets, table

branch = org_targets("b1", "b2", "b4")
IMPORT = "import.not_found"
EXPORT = "export.not_found"
ACCEPTED = {role: cells.replace("200", "202") for role, cells in MANAGE.items()}
# Allowed callers pass the guard and meet the body's upload, which is not theirs.
TAKES_UPLOAD = {
    role: cells.replace("200", "404:upload.not_found") for role, cells in MANAGE.items()
}


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    imports: dict[str, int] = {}
    exports: dict[str, int] = {}
    for target, org in (("own", t.b1), ("near", t.b2), ("far", t.b4)):
        key = f"imports/authz/{target}.xlsx"
        await resources.storage.put_stream(key, _once(b"PK report"), content_type="text/plain")
        upload = Upload(
            member_id=t.admin.id,
            purpose="import",
            status="ready",
            storage_key=f"uploads/import/authz/{target}.xlsx",
            filename="Danh sách.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            size=10,
            created_at=utcnow(),
            expires_at=utcnow().replace(year=2100),
            attached_at=utcnow(),
        )
        session.add(upload)
        await session.flush()
        run = MemberImport(
            org_id=org.id,
            created_by_id=t.admin.id,
            upload_id=upload.id,
            filename="Danh sách.xlsx",
            status=ImportStatus.CHECKED,
            next_row=0,
            checked_counts={"rows": 1, "created": 1},
            report_key=key,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        export = MemberExport(
            org_id=org.id,
            created_by_id=t.admin.id,
            format="xlsx",
            include_phones=True,
            status="pending",
            rows=0,
            created_at=utcnow(),
        )
        session.add_all([run, export])
        await session.flush()
        imports[target], exports[target] = run.id, export.id
    ctx.extra["imports"] = imports
    ctx.extra["exports"] = exports


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _import(ctx: Context, target: str) -> int:
    return int(ctx.extra["imports"][target])


def _export(ctx: Context, target: str) -> int:
    return int(ctx.extra["exports"][target])


ROWS = {
    "get_import_template": Row(
        lambda c, t: Call("GET", "/api/v1/imports/template"), table("200 200 200")
    ),
    "create_import": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/orgs/{branch(c, t)}/imports", {"upload_id": 999_999_999}
        ),
        TAKES_UPLOAD,
        "org.not_found",
    ),
    "list_org_imports": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/imports"), MANAGE, "org.not_found"
    ),
    "get_import": Row(lambda c, t: Call("GET", f"/api/v1/imports/{_import(c, t)}"), MANAGE, IMPORT),
    "list_import_rejected_rows": Row(
        lambda c, t: Call("GET", f"/api/v1/imports/{_import(c, t)}/rejected-rows"), MANAGE, IMPORT
    ),
    "apply_import": Row(
        lambda c, t: Call("POST", f"/api/v1/imports/{_import(c, t)}/apply"), ACCEPTED, IMPORT
    ),
    "get_import_report": Row(
        lambda c, t: Call("GET", f"/api/v1/imports/{_import(c, t)}/report"), MANAGE, IMPORT
    ),
    "create_export": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{branch(c, t)}/exports", {"format": "csv"}),
        ACCEPTED,
        "org.not_found",
    ),
    "get_export": Row(lambda c, t: Call("GET", f"/api/v1/exports/{_export(c, t)}"), MANAGE, EXPORT),
}
