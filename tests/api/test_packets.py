"""Packets: documents and media behind a QR code; public packets for guests until they expire."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Packet, PacketItem
from app.models.base import utcnow
from tests import samples
from tests.api.test_documents import draft, publish
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


async def test_packet_of_documents_and_media(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor = await as_actor(tree.editor.id)
    upper = (await draft(client, as_actor, tree, tree.c1.id))["id"]
    await publish(client, as_actor, tree, upper)
    secret = (await draft(client, as_actor, tree, tree.c1.id, is_confidential=True))["id"]
    await publish(client, as_actor, tree, secret)
    lower = (await draft(client, as_actor, tree, tree.b1.id))["id"]
    until = (utcnow() + timedelta(days=3)).isoformat()
    created = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/packets",
        json={"kind": "conference", "title": "Hội nghị quán triệt NQ 57", "public_until": until},
        headers=editor,
    )
    assert created.status_code == 201, created.text
    packet = created.json()
    url = f"/api/v1/packets/{packet['id']}"
    assert packet["public_url"].startswith("http://127.0.0.1:8000/api/v1/public/packets/")
    assert packet["link"] == f"http://127.0.0.1:8000/app/packets/{packet['id']}"

    added = await client.post(f"{url}/items", json={"document_id": upper}, headers=editor)
    assert added.status_code == 201, added.text
    # Not published (a draft of B1) or below the packet's org: not for its whole audience.
    assert_problem(
        await client.post(f"{url}/items", json={"document_id": lower}, headers=editor),
        404,
        "document.not_found",
    )
    assert_problem(
        await client.post(f"{url}/items", json={"document_id": secret}, headers=editor),
        409,
        "packet.confidential_in_public",
    )
    assert_problem(
        await client.post(
            f"{url}/items", json={"document_id": upper, "upload_id": 1}, headers=editor
        ),
        422,
        "packet.item_invalid",
    )
    video = await client.post(
        "/api/v1/uploads/presigned",
        json={"purpose": "media", "content_type": "video/mp4"},
        headers=editor,
    )
    assert video.status_code == 201
    put = await client.put(
        video.json()["url"].replace("http://127.0.0.1:8000", ""),
        content=samples.mp4(),
        headers={"Content-Type": "video/mp4"},
    )
    assert put.status_code == 204
    upload_id = video.json()["upload"]["id"]
    done = await client.post(f"/api/v1/uploads/{upload_id}/complete", headers=editor)
    assert done.status_code == 200, done.text
    with_media = await client.post(
        f"{url}/items", json={"upload_id": upload_id, "title": "Phóng sự"}, headers=editor
    )
    assert with_media.status_code == 201, with_media.text
    items = with_media.json()["items"]
    assert [(i["position"], i["document_id"], i["title"]) for i in items] == [
        (1, upper, "Nghị quyết về đột phá phát triển khoa học, công nghệ"),
        (2, None, "Phóng sự"),
    ]
    assert (
        await session.scalar(
            select(func.count()).select_from(PacketItem).where(PacketItem.packet_id == packet["id"])
        )
        == 2
    )

    # Members below C1 open it and its media; others do not see it.
    member = await as_actor(tree.member.id)
    assert (await client.get(url, headers=member)).status_code == 200
    link = await client.get(f"{url}/items/{items[1]['id']}/link", headers=member)
    assert link.status_code == 200
    media = await client.get(link.json()["url"].replace("http://127.0.0.1:8000", ""))
    assert media.content == samples.mp4()
    assert_problem(
        await client.get(url, headers=await as_actor(tree.outsider.id)), 404, "packet.not_found"
    )
    qr = await client.get(f"{url}/qr?format=png", headers=member)
    assert qr.headers["content-type"] == "image/png"

    # Guests: no login, no confidential text, until it expires.
    public = packet["public_url"].replace("http://127.0.0.1:8000", "")
    guest = await client.get(public)
    assert guest.status_code == 200, guest.text
    assert [i["title"] for i in guest.json()["items"]] == [
        "Nghị quyết về đột phá phát triển khoa học, công nghệ",
        "Phóng sự",
    ]
    row = await session.get(Packet, packet["id"], populate_existing=True)
    assert row is not None
    row.public_until = utcnow() - timedelta(minutes=1)
    await session.commit()
    assert_problem(await client.get(public), 410, "packet.expired")
    assert_problem(await client.get("/api/v1/public/packets/" + "x" * 32), 404, "packet.not_found")


async def test_public_until_is_bounded(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    editor = await as_actor(tree.editor.id)
    for until in (utcnow() - timedelta(days=1), utcnow() + timedelta(days=200)):
        response = await client.post(
            f"/api/v1/orgs/{tree.c1.id}/packets",
            json={"kind": "bulletin", "title": "Bản tin", "public_until": until.isoformat()},
            headers=editor,
        )
        assert_problem(response, 422, "packet.invalid_public_until")
    private = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/packets",
        json={"kind": "bulletin", "title": "Bản tin tháng 12"},
        headers=editor,
    )
    assert private.status_code == 201
    assert private.json()["public_url"] is None
