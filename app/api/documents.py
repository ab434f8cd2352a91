"""Documents (văn bản): drafted and published by an org for its subtree; files, receipts,
relays by lower committees, read coverage, extracted text for reading aloud."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import (
    CurrentActor,
    JoinedTarget,
    ObjectScope,
    OrgScope,
    ReaderDep,
    ResourcesDep,
    SessionDep,
)
from app.api.idempotency import Idempotent
from app.api.responses import IfMatchDep, Needs, plain_json, problems, with_etag_of
from app.api.routing import area_router
from app.core.db import SessionQueries
from app.core.errors import NotFound, RangeNotSatisfiableError
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit
from app.integrations.storage import (
    ObjectNotFound,
    RangeNotSatisfiable,
    content_disposition,
    parse_range_header,
)
from app.models import DocumentStatus
from app.resources import Resources
from app.schemas.common import MAX_ID, Digits, Page
from app.schemas.content import (
    CoverageRead,
    DocumentCreate,
    DocumentRead,
    DocumentSummary,
    DocumentUpdate,
    FileAttach,
    FileLink,
    MemberNotRead,
    PositionUpdate,
    RelayCreate,
    RelayRead,
    SectionsRead,
    StudyRead,
    UnitRelayStatus,
)
from app.services.access import Actor, Permission
from app.services.content import documents as document_service
from app.services.content.documents import DocumentTarget
from app.services.content.qr import MEDIA_TYPES, QrFormat, qr_code
from app.services.orgs import OrgTarget

router = area_router(tags=["documents"])


def DocumentScope(permission: Permission) -> ObjectScope[DocumentTarget]:
    """`{document_id}`: published documents are read by the subtree below their org (checked
    upward from the reader's scopes); drafts exist only for the org's editors and approvers."""
    return ObjectScope(
        document_service.load_target,
        permission,
        id_param="document_id",
        not_found_code=document_service.NOT_FOUND,
        description="Document id.",
        upward=permission is Permission.CONTENT_VIEW,
        visible=document_service.ensure_readable,
        joined=JoinedTarget(document_service.with_target, document_service.joined_target),
    )


Readable = Annotated[DocumentTarget, Depends(DocumentScope(Permission.CONTENT_VIEW))]
Editable = Annotated[DocumentTarget, Depends(DocumentScope(Permission.CONTENT_DRAFT))]
Publishable = Annotated[DocumentTarget, Depends(DocumentScope(Permission.CONTENT_PUBLISH))]
FileId = Annotated[int, Path(ge=1, le=MAX_ID, description="File id."), Digits]
# The relay reports need `content.relay` on the org they list (the document's by default).
_RELAY_REPORT = [Needs(Permission.CONTENT_RELAY, "query.org_id", default="document_id")]
ReportOrg = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="List the child units of this org (in the document's subtree); "
        "default: the document's org.",
    ),
    Digits,
]
_RANGE = Header(
    alias="Range",
    max_length=200,
    description="One byte range (`bytes=0-1023`, `bytes=-500`); anything else gets all bytes.",
)
_BINARY = {"schema": {"type": "string", "format": "binary"}}


async def _read(resources: Resources, session: Any, actor: Actor, document_id: int) -> Any:
    """The document as a write just left it, read inside the write's own transaction."""
    return await document_service.read_document(
        SessionQueries(session), resources.settings, actor, document_id
    )


@router.post(
    "/orgs/{org_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    responses=problems(401, 403, 404, 409, 413, 422),
)
async def create_document(
    body: DocumentCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.CONTENT_DRAFT))],
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Draft a document for this org (editors of the org). It is seen by the org's editors and
    approvers until it is published. Send an `Idempotency-Key` to retry safely."""
    document_id = await document_service.create_document(session, actor, org, body)
    return with_etag_of(response, await _read(resources, session, actor, document_id))


@router.get(
    "/orgs/{org_id}/documents",
    response_model=Page[DocumentSummary],
    responses=problems(400, 401, 403, 404, 422),
)
async def list_org_documents(
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.CONTENT_VIEW, upward=True))],
    actor: CurrentActor,
    reader: ReaderDep,
    document_status: Annotated[
        DocumentStatus | None,
        Query(alias="status", description="Only drafts or only published documents."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Documents this org published (and its drafts, for its editors and approvers), newest
    first. Members read what their branch and every org above it published."""
    items, next_cursor = await document_service.list_org_documents(
        reader, actor, org, status=document_status, limit=limit, cursor=cursor
    )
    # A hot read (the bench's ward documents): written from its plain values (`plain_json`).
    return plain_json({"items": items, "next_cursor": next_cursor})


@router.get(
    "/documents/{document_id}", response_model=DocumentRead, responses=problems(401, 403, 404, 422)
)
async def get_document(
    document: Readable,
    actor: CurrentActor,
    reader: ReaderDep,
    resources: ResourcesDep,
) -> Response:
    """A document with its files, your own receipt and its app link (for QR codes). Carries
    an `ETag`. Opening it in the app is recorded by `POST /documents/{id}/open`."""
    detail = await document_service.read_document(reader, resources.settings, actor, document.id)
    # A hot read (the bench's province document): written from its plain values (`plain_json`).
    return plain_json(detail, version=detail["version"])


@router.patch(
    "/documents/{document_id}",
    response_model=DocumentRead,
    responses=problems(
        401,
        403,
        404,
        412,
        413,
        422,
        codes={409: ["document.not_draft"]},
    ),
)
async def update_document(
    body: DocumentUpdate,
    document: Editable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Edit a draft (editors of the org). Send the `ETag` as `If-Match` (412 if it changed)."""
    await document_service.update_document(session, actor, document, body, if_match=if_match)
    return with_etag_of(response, await _read(resources, session, actor, document.id))


@router.post(
    "/documents/{document_id}/files",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    responses=problems(
        401,
        403,
        413,
        422,
        codes={404: ["upload.not_found"], 409: ["document.not_draft", "document.too_many_files"]},
    ),
)
async def attach_document_file(
    body: FileAttach,
    document: Editable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
) -> dict[str, Any]:
    """Attach one of your uploads (purpose `document`: PDF, DOCX or an image, checked by
    content when uploaded) to a draft."""
    await document_service.attach_file(session, actor, document, body.upload_id)
    return with_etag_of(response, await _read(resources, session, actor, document.id))


@router.post(
    "/documents/{document_id}/publish",
    response_model=DocumentRead,
    responses=problems(401, 403, 404, 412, 413, 422, codes={409: ["document.already_published"]}),
)
async def publish_document(
    document: Publishable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    response: Response,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Publish a draft for the org's whole subtree (approvers of the org). Members are notified
    through the inbox; the text of a confidential document is never in a notification."""
    await document_service.publish_document(session, actor, document, if_match=if_match)
    return with_etag_of(response, await _read(resources, session, actor, document.id))


@router.get(
    "/documents/{document_id}/qr",
    response_class=Response,
    responses={
        200: {
            "description": "The QR code of the document's app link.",
            "content": {"image/svg+xml": _BINARY, "image/png": _BINARY},
        },
        **problems(401, 403, 404, 422),
    },
)
async def get_document_qr(
    document: Readable,
    resources: ResourcesDep,
    qr_format: Annotated[QrFormat, Query(alias="format", description="`svg` or `png`.")] = (
        QrFormat.SVG
    ),
) -> Response:
    """A QR code that opens the document in the app (after login), for printed notices and
    conference screens. Built from the deployment's public address."""
    link = document_service.app_link(resources.settings, "documents", document.id)
    return Response(
        qr_code(link, qr_format),
        media_type=MEDIA_TYPES[qr_format],
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get(
    "/documents/{document_id}/files/{file_id}/link",
    response_model=FileLink,
    responses=problems(401, 403, 422, codes={404: ["document.file_not_found"]}),
)
async def get_document_file_link(
    document: Readable, file_id: FileId, session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """A short-lived signed download link for one of the document's files."""
    return await document_service.file_link(session, resources.storage, document, file_id)


@router.get(
    "/documents/{document_id}/files/{file_id}/content",
    response_class=Response,
    responses={
        200: {"description": "The whole file.", "content": {"*/*": _BINARY}},
        206: {"description": "The range asked for.", "content": {"*/*": _BINARY}},
        **problems(401, 403, 416, 422, codes={404: ["document.file_not_found"]}),
    },
)
async def download_document_file(
    document: Readable,
    file_id: FileId,
    session: SessionDep,
    resources: ResourcesDep,
    range_header: Annotated[str | None, _RANGE] = None,
) -> Response:
    """The bytes of one of the document's files; `Range` gives 206 (resumable downloads)."""
    try:
        content = await document_service.open_file(
            session, resources.storage, document, file_id, parse_range_header(range_header)
        )
    except RangeNotSatisfiable as exc:
        raise RangeNotSatisfiableError(exc.size) from exc
    except ObjectNotFound as exc:
        raise NotFound("Không tìm thấy tệp.", code="document.file_not_found") from exc
    stream = content.stream
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(stream.length),
        "ETag": f'"{stream.info.etag}"',
        "Cache-Control": "private, no-store",
        "Content-Disposition": content_disposition(content.filename),
    }
    if stream.is_partial:
        headers["Content-Range"] = stream.content_range
    return StreamingResponse(
        stream,
        status_code=206 if stream.is_partial else 200,
        headers=headers,
        media_type=stream.info.content_type,
    )


@router.post(
    "/documents/{document_id}/open",
    response_model=StudyRead,
    responses=problems(401, 403, 404, 422, codes={409: ["document.not_published"]}),
)
async def open_document(document: Readable, actor: CurrentActor, session: SessionDep) -> Any:
    """Record that you opened the document (the app posts it on opening): once per member,
    whatever the retries; the first opening counts."""
    return await document_service.open_document(session, actor, document)


@router.post(
    "/documents/{document_id}/studied",
    response_model=StudyRead,
    responses=problems(401, 403, 404, 422, codes={409: ["document.not_published"]}),
)
async def study_document(document: Readable, actor: CurrentActor, session: SessionDep) -> Any:
    """Mark the document as studied (đã nghiên cứu): an explicit action, recorded once."""
    return await document_service.study_document(session, actor, document)


@router.put(
    "/documents/{document_id}/position",
    response_model=StudyRead,
    responses=problems(401, 403, 404, 413, 422, codes={409: ["document.not_published"]}),
)
async def save_document_position(
    body: PositionUpdate, document: Readable, actor: CurrentActor, session: SessionDep
) -> Any:
    """Save your reading / read-aloud position (section and character offset); the other
    devices read it back in the document's `receipt`."""
    return await document_service.save_position(session, actor, document, body)


@router.get(
    "/documents/{document_id}/sections",
    response_model=SectionsRead,
    responses=problems(401, 403, 404, 422),
)
async def list_document_sections(document: Readable, session: SessionDep) -> Any:
    """The document's text in reading order (headings and paragraphs), for the read-aloud mode.
    Empty until extraction is done (`extraction_status`)."""
    return await document_service.read_sections(session, document)


@router.post(
    "/documents/{document_id}/relays",
    status_code=status.HTTP_201_CREATED,
    response_model=RelayRead,
    responses=problems(
        401,
        403,
        413,
        codes={
            404: ["org.not_found", "upload.not_found"],
            409: ["document.already_relayed"],
            422: ["document.relay_not_below"],
        },
        needs=[Needs(Permission.CONTENT_RELAY, "body.org_id")],
    ),
)
async def relay_document(
    body: RelayCreate,
    document: Readable,
    actor: CurrentActor,
    session: SessionDep,
    _idempotency: Idempotent,
) -> Any:
    """Relay an upper document to your committee's subtree with your implementation plan
    (leadership of the lower org). Once per org."""
    return await document_service.relay_document(session, actor, document, body)


@router.get(
    "/documents/{document_id}/relays/{relay_id}/plan",
    response_model=FileLink,
    responses=problems(
        401, 403, 422, codes={404: ["document.no_plan", "document.relay_not_found"]}
    ),
)
async def get_relay_plan_link(
    document: Readable,
    relay_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Relay id."), Digits],
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
) -> Any:
    """A short-lived signed link to the implementation plan a committee relayed the document
    with (for the members it reaches and the leadership above)."""
    return await document_service.relay_plan_link(
        session, resources.storage, actor, document, relay_id
    )


@router.get(
    "/documents/{document_id}/relays",
    response_model=list[UnitRelayStatus],
    responses=problems(
        401,
        403,
        422,
        codes={404: ["org.not_found"], 409: ["document.not_published"]},
        needs=_RELAY_REPORT,
    ),
)
async def list_document_relays(
    document: Readable, actor: CurrentActor, session: SessionDep, org_id: ReportOrg = None
) -> Any:
    """Relay status of each child unit of the org (leadership of the org or above)."""
    return await document_service.relay_status(session, actor, document, org_id)


@router.get(
    "/documents/{document_id}/coverage",
    response_model=CoverageRead,
    responses=problems(
        401,
        403,
        422,
        codes={404: ["org.not_found"], 409: ["document.not_published"]},
        needs=_RELAY_REPORT,
    ),
)
async def get_document_coverage(
    document: Readable,
    actor: CurrentActor,
    resources: ResourcesDep,
    org_id: ReportOrg = None,
) -> Any:
    """Members, opened and studied counts per child unit of the org. Opens and "studied" count
    at once, in the branch the member was in; member counts are at most 5 minutes old."""
    report = await document_service.coverage(
        resources.reader, actor, document, org_id, resources.branch_members
    )
    # Hundreds of units at a province's root: written as `CoverageRead` from plain values.
    return plain_json(report)


@router.get(
    "/documents/{document_id}/not-read",
    response_model=Page[MemberNotRead],
    responses=problems(
        400,
        401,
        403,
        422,
        codes={404: ["org.not_found"], 409: ["document.not_published"]},
        needs=_RELAY_REPORT,
    ),
)
async def list_document_not_read(
    document: Readable,
    actor: CurrentActor,
    session: SessionDep,
    org_id: ReportOrg = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MemberNotRead]:
    """Members of the org's subtree (a branch, typically) who have not opened the document."""
    items, next_cursor = await document_service.members_not_read(
        session, actor, document, org_id, limit=limit, cursor=cursor
    )
    return Page(items=[MemberNotRead.model_validate(i) for i in items], next_cursor=next_cursor)
