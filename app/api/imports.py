"""Member imports from the national member database's spreadsheets, and roster exports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response, status

from app.api.deps import CurrentActor, ObjectScope, OrgScope, ResourcesDep, SessionDep
from app.api.idempotency import Idempotent
from app.api.responses import problems
from app.api.routing import area_router
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.integrations.storage import content_disposition
from app.schemas.common import Page
from app.schemas.member_import import (
    ExportCreate,
    ExportRead,
    FileLink,
    ImportCreate,
    ImportRead,
    ImportRejectedRow,
    ImportSummary,
)
from app.services import spreadsheets
from app.services.access import Permission
from app.services.imports import report as import_report
from app.services.imports import runs as import_service
from app.services.imports.runs import RunTarget
from app.services.orgs import OrgTarget

router = area_router(tags=["imports"])

ImportScope = ObjectScope(
    import_service.load_import_target,
    Permission.MEMBER_IMPORT,
    id_param="import_id",
    not_found_code="import.not_found",
    description="Import id.",
)
ExportScope = ObjectScope(
    import_service.load_export_target,
    Permission.MEMBER_EXPORT,
    id_param="export_id",
    not_found_code="export.not_found",
    description="Export id.",
)

_FILE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/imports/template",
    response_class=Response,
    responses={
        200: {
            "description": "The template: the national export's columns and one example row.",
            "content": {spreadsheets.XLSX_TYPE: _FILE, "text/csv": _FILE},
        },
        **problems(401, 422),
    },
)
async def get_import_template(
    _actor: CurrentActor,
    format: Annotated[
        Literal["xlsx", "csv"], Query(description="`xlsx` (default) or `csv` (UTF-8).")
    ] = "xlsx",
) -> Response:
    """The member import template (the national member database's export columns)."""
    if format == "csv":
        body, media_type = import_report.template_csv(), import_report.CSV_TYPE
    else:
        body, media_type = import_report.template_xlsx(), spreadsheets.XLSX_TYPE
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(f"Mẫu nhập đảng viên.{format}"),
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.post(
    "/orgs/{org_id}/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses=problems(401, 403, 409, 413, 422, codes={404: ["upload.not_found"]}),
)
async def create_import(
    body: ImportCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_IMPORT))],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Import members into this org from an uploaded file (`POST /uploads?purpose=import`).
    A dry run starts at once: poll the import until it is `checked`, read its report, then
    apply it. Members are matched by party card number; a card number of a member of another
    branch is refused unless `allow_transfers` (then it is a transfer, see the field)."""
    return await import_service.create_import(
        session, actor, org, body.upload_id, allow_transfers=body.allow_transfers
    )


@router.get(
    "/orgs/{org_id}/imports",
    response_model=Page[ImportSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_imports(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_IMPORT))],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ImportSummary]:
    """Imports into this org, newest first."""
    items, next_cursor = await import_service.list_org_imports(
        session, org, limit=limit, cursor=cursor
    )
    return Page(items=[ImportSummary.model_validate(i) for i in items], next_cursor=next_cursor)


@router.get(
    "/imports/{import_id}", response_model=ImportRead, responses=problems(401, 403, 404, 422)
)
async def get_import(
    run: Annotated[RunTarget, Depends(ImportScope)], session: SessionDep
) -> dict[str, Any]:
    """An import's status, progress and counts."""
    return await import_service.read_import(session, run.id)


@router.get(
    "/imports/{import_id}/rejected-rows",
    response_model=Page[ImportRejectedRow],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_import_rejected_rows(
    run: Annotated[RunTarget, Depends(ImportScope)],
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ImportRejectedRow]:
    """The rows the current phase refused, in file order, with what is wrong in each cell."""
    items, next_cursor = await import_service.list_rejected_rows(
        session, run.id, limit=limit, cursor=cursor
    )
    return Page(items=[ImportRejectedRow.model_validate(i) for i in items], next_cursor=next_cursor)


@router.post(
    "/imports/{import_id}/apply",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses=problems(
        401, 403, 404, 422, codes={409: ["import.already_applied", "import.not_checked"]}
    ),
)
async def apply_import(
    run: Annotated[RunTarget, Depends(ImportScope)], actor: CurrentActor, session: SessionDep
) -> dict[str, Any]:
    """Apply a checked import: good rows are created or updated, bad rows are refused and
    reported; running it again changes nothing. 409 `import.not_checked` before the dry run
    has finished, `import.already_applied` once started."""
    return await import_service.apply_import(session, actor, run.id)


@router.get(
    "/imports/{import_id}/report",
    response_model=FileLink,
    responses=problems(401, 403, 404, 422, codes={409: ["import.report_not_ready"]}),
)
async def get_import_report(
    run: Annotated[RunTarget, Depends(ImportScope)], session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """A short-lived link to the report (.xlsx): the summary, the refused rows with their
    problems beside them, and the org's members missing from the file."""
    return await import_service.report_link(session, resources.storage, resources.settings, run.id)


@router.post(
    "/orgs/{org_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportRead,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def create_export(
    body: ExportCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.MEMBER_EXPORT))],
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Export the members of this org's subtree (the import's columns). Runs in the
    background: poll the export for its download link."""
    return await import_service.create_export(session, actor, org, body.format)


@router.get(
    "/exports/{export_id}", response_model=ExportRead, responses=problems(401, 403, 404, 422)
)
async def get_export(
    export: Annotated[RunTarget, Depends(ExportScope)],
    session: SessionDep,
    resources: ResourcesDep,
) -> dict[str, Any]:
    """An export's status, and once done a short-lived download link."""
    return await import_service.read_export(
        session, resources.storage, resources.settings, export.id
    )
