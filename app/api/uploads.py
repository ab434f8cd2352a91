"""Uploads: a file streamed in the body (checked by content), or a presigned upload for large
media; the owner's metadata and bytes; the local storage's signed links."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import CurrentActor, ObjectScope, ResourcesDep, SessionDep
from app.api.responses import problems
from app.api.routing import area_router
from app.core import ratelimit
from app.core.errors import (
    Gone,
    NotFound,
    RangeNotSatisfiableError,
    Unprocessable,
    UnsupportedMediaType,
)
from app.integrations.storage import (
    InvalidSignedToken,
    LocalStorage,
    ObjectNotFound,
    ObjectStream,
    ObjectTooLarge,
    RangeNotSatisfiable,
    SignedGrant,
    content_disposition,
    parse_range_header,
)
from app.resources import Resources
from app.schemas.upload import FileName, PresignedUploadCreate, PresignedUploadRead, UploadRead
from app.services.access import Actor, Permission
from app.services.uploads import UploadPurpose, UploadTooLarge
from app.services.uploads import records as upload_service
from app.services.uploads.records import UploadTarget

router = area_router(tags=["uploads"])

UploadScope = ObjectScope(
    upload_service.load_target,
    Permission.UPLOAD_VIEW,
    id_param="upload_id",
    not_found_code="upload.not_found",
    description="Upload id.",
)

# Outer caps on the request body of the upload routes (the JSON limit would refuse files); each
# purpose's own limit (`UPLOAD__*_MAX_MB`) is checked while the bytes arrive.
STREAMED_BODY_CAP = 2048 * 1024 * 1024
SIGNED_PUT_BODY_CAP = 5 * 1024 * 1024 * 1024

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_RANGE = Header(
    alias="Range",
    max_length=200,
    description="One byte range (`bytes=0-1023`, `bytes=-500`); anything else gets all bytes.",
)


async def _limit_uploads(resources: Resources, actor: Actor) -> None:
    await ratelimit.enforce(
        resources.limiter,
        f"upload:member:{actor.member_id}",
        limit=resources.settings.upload.per_member_per_hour,
        window_s=3600,
    )


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadRead,
    responses=problems(
        401,
        429,
        503,
        codes={
            413: ["upload.too_large"],
            415: ["upload.unsupported_encoding", "upload.unsupported_type"],
            422: ["upload.empty", "upload.use_presigned"],
        },
    ),
    openapi_extra={
        "x-max-body-bytes": STREAMED_BODY_CAP,
        "requestBody": {
            "required": True,
            "description": "The file's bytes as the whole body (not a form).",
            "content": {"application/octet-stream": _BINARY, "*/*": _BINARY},
        },
    },
)
async def create_upload(
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    purpose: Annotated[
        UploadPurpose,
        Query(
            description="What it is for: `document` (PDF, DOCX, images; 50 MiB), `image` "
            "(JPEG, PNG, WebP; 10 MiB), `import` (XLSX, CSV; 20 MiB). Media: presigned upload."
        ),
    ],
    filename: Annotated[
        FileName | None, Query(description="The file's name, for downloads.")
    ] = None,
) -> dict[str, Any]:
    """Upload a file: its type is decided by its content (names and declared types are not
    trusted), its size is checked as it arrives. Areas then take it by id (a document's
    attachment, an import); an upload nobody takes is deleted after a day."""
    if purpose is UploadPurpose.MEDIA:
        raise Unprocessable(
            "Tệp âm thanh, video được tải lên qua liên kết tải lên trực tiếp.",
            code="upload.use_presigned",
        )
    await _limit_uploads(resources, actor)
    return await upload_service.receive(
        session,
        resources.storage,
        resources.settings,
        actor,
        purpose=purpose,
        chunks=request.stream(),
        declared_name=filename,
        declared_type=request.headers.get("content-type"),
    )


@router.post(
    "/uploads/presigned",
    status_code=status.HTTP_201_CREATED,
    response_model=PresignedUploadRead,
    responses=problems(401, 413, 422, 429, 503, codes={415: ["upload.unsupported_type"]}),
)
async def create_presigned_upload(
    body: PresignedUploadCreate, actor: CurrentActor, session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """Start an upload that goes straight to the file storage (large audio and video): send the
    file to the returned URL, then `POST /uploads/{upload_id}/complete`."""
    await _limit_uploads(resources, actor)
    return await upload_service.start_presigned(
        session,
        resources.storage,
        resources.settings,
        actor,
        purpose=body.purpose,
        content_type=body.content_type,
        filename=body.filename,
    )


@router.post(
    "/uploads/{upload_id:int}/complete",
    response_model=UploadRead,
    responses=problems(
        401, 403, 413, 422, codes={404: ["upload.not_received"], 415: ["upload.unsupported_type"]}
    ),
)
async def complete_upload(
    upload: Annotated[UploadTarget, Depends(UploadScope)],
    session: SessionDep,
    resources: ResourcesDep,
) -> dict[str, Any]:
    """Check what a presigned upload sent (size, type by content). A file that fails is
    deleted and the answer says why."""
    return await upload_service.complete(session, resources.storage, resources.settings, upload.id)


@router.get(
    "/uploads/{upload_id:int}", response_model=UploadRead, responses=problems(401, 403, 404, 422)
)
async def get_upload(
    upload: Annotated[UploadTarget, Depends(UploadScope)], session: SessionDep
) -> dict[str, Any]:
    """One of your uploads."""
    return await upload_service.read(session, upload.id)


def _stream_response(stream: ObjectStream, *, filename: str | None, inline: bool) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(stream.length),
        "ETag": f'"{stream.info.etag}"',
        "Cache-Control": "private, no-store",
    }
    if stream.is_partial:
        headers["Content-Range"] = stream.content_range
    if filename:
        headers["Content-Disposition"] = content_disposition(filename, inline=inline)
    return StreamingResponse(
        stream,
        status_code=206 if stream.is_partial else 200,
        headers=headers,
        media_type=stream.info.content_type,
    )


_CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file (its own type).", "content": {"*/*": _BINARY}},
    206: {"description": "The range asked for.", "content": {"*/*": _BINARY}},
}


@router.get(
    "/uploads/{upload_id:int}/content",
    response_class=Response,
    responses={
        **_CONTENT_RESPONSES,
        **problems(
            401,
            403,
            404,
            422,
            codes={409: ["upload.not_ready"], 416: ["file.range_not_satisfiable"]},
        ),
    },
)
async def download_upload(
    upload: Annotated[UploadTarget, Depends(UploadScope)],
    session: SessionDep,
    resources: ResourcesDep,
    range_header: Annotated[str | None, _RANGE] = None,
) -> Response:
    """The bytes of one of your uploads; supports `Range` (206) for resumable downloads."""
    try:
        content = await upload_service.open_content(
            session, resources.storage, upload.id, parse_range_header(range_header)
        )
    except RangeNotSatisfiable as exc:
        raise RangeNotSatisfiableError(exc.size) from exc
    except ObjectNotFound as exc:
        raise NotFound(code="upload.not_found") from exc
    return _stream_response(content.stream, filename=content.filename, inline=False)


# --- signed links of the local storage ----------------------------------------------------------

Token = Annotated[
    str,
    Path(min_length=16, max_length=4096, pattern=r"^[A-Za-z0-9._~-]+$", description="Signed."),
]


def _grant(resources: Resources, token: str, op: str) -> SignedGrant:
    storage = resources.storage
    if not isinstance(storage, LocalStorage):
        raise NotFound(code="file.not_found")
    try:
        grant = storage.verify_signed_token(token)
    except InvalidSignedToken as exc:
        if exc.reason == "expired":
            raise Gone("Liên kết đã hết hạn.", code="file.link_expired") from exc
        raise NotFound(code="file.not_found") from exc
    if grant.op != op:
        raise NotFound(code="file.not_found")
    return grant


@router.get(
    "/files/{token}",
    response_class=Response,
    responses={
        **_CONTENT_RESPONSES,
        **problems(416, 422, codes={404: ["file.not_found"], 410: ["file.link_expired"]}),
    },
    openapi_extra={"security": []},
)
async def download_signed_file(
    token: Token,
    resources: ResourcesDep,
    range_header: Annotated[str | None, _RANGE] = None,
) -> Response:
    """A short-lived signed download link (the embedded file storage's stand-in for object
    storage links). The link is the credential: no login."""
    grant = _grant(resources, token, "get")
    try:
        stream = await resources.storage.open(grant.key, parse_range_header(range_header))
    except RangeNotSatisfiable as exc:
        raise RangeNotSatisfiableError(exc.size) from exc
    except ObjectNotFound as exc:
        raise NotFound(code="file.not_found") from exc
    return _stream_response(stream, filename=grant.filename, inline=grant.inline)


@router.put(
    "/files/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        410, 413, 422, codes={404: ["file.not_found"], 415: ["upload.unsupported_type"]}
    ),
    openapi_extra={
        "security": [],
        "x-max-body-bytes": SIGNED_PUT_BODY_CAP,
        "requestBody": {"required": True, "content": {"*/*": _BINARY}},
    },
)
async def upload_signed_file(token: Token, request: Request, resources: ResourcesDep) -> Response:
    """A short-lived signed upload link (the embedded file storage's stand-in for a presigned
    object storage PUT): send the file with the Content-Type it was signed for."""
    grant = _grant(resources, token, "put")
    sent_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if grant.content_type and sent_type != grant.content_type:
        raise UnsupportedMediaType(
            "Định dạng tệp không đúng với liên kết tải lên.", code="upload.unsupported_type"
        )
    try:
        await resources.storage.put_stream(
            grant.key, request.stream(), content_type=sent_type, max_bytes=grant.max_bytes
        )
    except ObjectTooLarge as exc:
        raise UploadTooLarge(grant.max_bytes or 0) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
