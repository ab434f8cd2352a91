"""Packets: an ordered set of documents and media for a conference or a monthly bulletin, with a
QR code; public packets open for guests (no login) until they expire."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Response, status

from app.api.deps import CurrentActor, ObjectScope, OrgScope, ResourcesDep, SessionDep
from app.api.idempotency import Idempotent
from app.api.responses import problems
from app.api.routing import area_router
from app.schemas.common import MAX_ID, Digits
from app.schemas.content import (
    FileLink,
    PacketCreate,
    PacketItemCreate,
    PacketRead,
    PublicPacketRead,
)
from app.services.access import Permission
from app.services.content import packets as packet_service
from app.services.content.documents import app_link
from app.services.content.packets import PacketTarget
from app.services.content.qr import MEDIA_TYPES, QrFormat, qr_code
from app.services.orgs import OrgTarget

router = area_router(tags=["packets"])


def PacketScope(permission: Permission) -> ObjectScope[PacketTarget]:
    return ObjectScope(
        packet_service.load_target,
        permission,
        id_param="packet_id",
        not_found_code=packet_service.NOT_FOUND,
        description="Packet id.",
        upward=permission is Permission.CONTENT_VIEW,
    )


Readable = Annotated[PacketTarget, Depends(PacketScope(Permission.CONTENT_VIEW))]
Editable = Annotated[PacketTarget, Depends(PacketScope(Permission.CONTENT_DRAFT))]
_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/orgs/{org_id}/packets",
    status_code=status.HTTP_201_CREATED,
    response_model=PacketRead,
    responses=problems(401, 403, 404, 409, 413, codes={422: ["packet.invalid_public_until"]}),
)
async def create_packet(
    body: PacketCreate,
    org: Annotated[OrgTarget, Depends(OrgScope(Permission.CONTENT_DRAFT))],
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
    _idempotency: Idempotent,
) -> dict[str, Any]:
    """Make a packet for this org's subtree (editors): a conference's papers or a monthly
    bulletin. With `public_until`, guests open it without login until then."""
    packet_id = await packet_service.create_packet(session, actor, org, body)
    return await packet_service.read_packet(session, resources.settings, packet_id)


@router.get(
    "/packets/{packet_id}", response_model=PacketRead, responses=problems(401, 403, 404, 422)
)
async def get_packet(packet: Readable, session: SessionDep, resources: ResourcesDep) -> Any:
    """A packet and its items in order (documents by id; media with a link route)."""
    return await packet_service.read_packet(session, resources.settings, packet.id)


@router.post(
    "/packets/{packet_id}/items",
    status_code=status.HTTP_201_CREATED,
    response_model=PacketRead,
    responses=problems(
        401,
        403,
        413,
        codes={
            404: ["document.not_found", "upload.not_found"],
            409: ["packet.confidential_in_public", "packet.too_many_items"],
            422: ["packet.item_invalid"],
        },
    ),
)
async def add_packet_item(
    body: PacketItemCreate,
    packet: Editable,
    actor: CurrentActor,
    session: SessionDep,
    resources: ResourcesDep,
) -> Any:
    """Add a published document (of this org or above) or one of your uploads (video, audio,
    images, PDF) at the end of the packet (editors)."""
    await packet_service.add_item(session, actor, packet, body)
    return await packet_service.read_packet(session, resources.settings, packet.id)


@router.get(
    "/packets/{packet_id}/items/{item_id}/link",
    response_model=FileLink,
    responses=problems(401, 403, 422, codes={404: ["packet.item_not_found"]}),
)
async def get_packet_item_link(
    packet: Readable,
    item_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Item id."), Digits],
    session: SessionDep,
    resources: ResourcesDep,
) -> Any:
    """A signed link (an hour) to a media item of the packet."""
    return await packet_service.item_link(session, resources.storage, packet, item_id)


@router.get(
    "/packets/{packet_id}/qr",
    response_class=Response,
    responses={
        200: {
            "description": "The QR code of the packet's app link.",
            "content": {"image/svg+xml": _BINARY, "image/png": _BINARY},
        },
        **problems(401, 403, 404, 422),
    },
)
async def get_packet_qr(
    packet: Readable,
    resources: ResourcesDep,
    qr_format: Annotated[QrFormat, Query(alias="format", description="`svg` or `png`.")] = (
        QrFormat.SVG
    ),
) -> Response:
    """A QR code that opens the packet in the app (after login), for conference halls."""
    link = app_link(resources.settings, "packets", packet.id)
    return Response(qr_code(link, qr_format), media_type=MEDIA_TYPES[qr_format])


@router.get(
    "/public/packets/{token}",
    response_model=PublicPacketRead,
    responses=problems(422, codes={404: ["packet.not_found"], 410: ["packet.expired"]}),
    openapi_extra={"security": []},
)
async def get_public_packet(
    token: Annotated[
        str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Token.")
    ],
    session: SessionDep,
    resources: ResourcesDep,
) -> Any:
    """A public packet for guests (no login) until it expires (410 after): titles, numbers,
    summaries and signed file links. Confidential documents are never included."""
    return await packet_service.public_packet(session, resources.storage, token)
