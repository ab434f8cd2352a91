"""Authorization rows: packets of B1 (own), B3 (near) and B4 (far); the public link is the
credential (no login)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Packet, PacketItem
from app.models.base import utcnow
from app.resources import Resources
from tests import samples
from tests.authz.documents import DRAFT_FOR_ORG, READ, _org
from tests.authz.harness import Call, Context, Row, everyone, table

NF = "packet.not_found"
EDIT = table(
    "404 404 404",
    member="403 404 404",
    secretary="403 404 404",
    deputy="403 404 404",
    committee="403 403 404",
    officer_c1="403 403 404",
    approver="403 403 404",
    officer_root="403 403 403",
    # The upload is nobody's: past the guard, it is not found.
    editor="404:upload.not_found 404:upload.not_found 404:upload.not_found",
    admin="404:upload.not_found 404:upload.not_found 404:upload.not_found",
)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    t = ctx.tree
    packets: dict[str, tuple[int, int, str]] = {}
    for target, org in (("own", t.b1), ("near", t.b3), ("far", t.b4)):
        now = utcnow()
        token = f"authz-public-token-{target}"
        packet = Packet(
            org_id=org.id,
            kind="bulletin",
            title=f"Bản tin {target}",
            description="",
            public_token=token,
            public_until=now + timedelta(days=1),
            created_at=now,
            updated_at=now,
        )
        session.add(packet)
        await session.flush()
        key = f"packets/authz/{target}.mp4"
        await resources.storage.put_stream(key, _once(samples.mp4()), content_type="video/mp4")
        item = PacketItem(
            packet_id=packet.id,
            position=1,
            title="Phóng sự",
            storage_key=key,
            filename="phong-su.mp4",
            content_type="video/mp4",
            size=1,
        )
        session.add(item)
        await session.flush()
        packets[target] = (packet.id, item.id, token)
    ctx.extra["packets"] = packets


def _packet(c: Context, t: str) -> str:
    return f"/api/v1/packets/{c.extra['packets'][t][0]}"


ROWS = {
    "create_packet": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/orgs/{_org(c, t)}/packets", {"kind": "bulletin", "title": "Bản tin"}
        ),
        DRAFT_FOR_ORG,
        "org.not_found",
    ),
    "get_packet": Row(lambda c, t: Call("GET", _packet(c, t)), READ, NF),
    "add_packet_item": Row(
        lambda c, t: Call("POST", f"{_packet(c, t)}/items", {"upload_id": 987654321}), EDIT, NF
    ),
    "get_packet_item_link": Row(
        lambda c, t: Call("GET", f"{_packet(c, t)}/items/{c.extra['packets'][t][1]}/link"),
        READ,
        NF,
    ),
    "get_packet_qr": Row(lambda c, t: Call("GET", f"{_packet(c, t)}/qr"), READ, NF),
    "get_public_packet": Row(
        lambda c, t: Call("GET", f"/api/v1/public/packets/{c.extra['packets'][t][2]}"),
        everyone("200 200 200"),
    ),
}
