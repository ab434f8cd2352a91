"""Uploads through the API: type by content, limits per purpose, ranges, presigned uploads into
the embedded storage, signed links, and nothing recorded for what is refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import UploadSettings
from app.integrations.storage import LocalStorage
from app.models import Upload
from app.models.base import utcnow
from app.resources import Resources
from tests import samples
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


async def _uploads(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Upload)) or 0)


async def test_a_file_is_typed_by_its_content_and_read_back_in_ranges(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.member.id)
    data = samples.pdf("Nghị quyết 57-NQ/TW")
    created = await client.post(
        "/api/v1/uploads",
        params={"purpose": "document", "filename": "Nghị quyết 57.docx"},
        content=data,
        headers={**headers, "Content-Type": "application/msword"},
    )
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["content_type"] == "application/pdf"
    assert upload["filename"] == "Nghị quyết 57.pdf"
    assert upload["size"] == len(data)
    assert upload["sha256"] == hashlib.sha256(data).hexdigest()
    assert upload["status"] == "ready"
    assert not upload["attached"]
    url = f"/api/v1/uploads/{upload['id']}"
    assert (await client.get(url, headers=headers)).json() == upload
    whole = await client.get(f"{url}/content", headers=headers)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["content-type"] == "application/pdf"
    assert whole.headers["accept-ranges"] == "bytes"
    assert "attachment" in whole.headers["content-disposition"]
    part = await client.get(f"{url}/content", headers={**headers, "Range": "bytes=5-14"})
    assert part.status_code == 206
    assert part.content == data[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{len(data)}"
    beyond = await client.get(
        f"{url}/content", headers={**headers, "Range": f"bytes={len(data) + 10}-"}
    )
    assert_problem(beyond, 416, "file.range_not_satisfiable")
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize(
    ("purpose", "data", "status", "code"),
    [
        ("document", samples.exe(), 415, "upload.unsupported_type"),
        ("image", samples.pdf(), 415, "upload.unsupported_type"),
        ("document", samples.docm(), 415, "upload.unsupported_type"),
        ("import", samples.csv_windows_1258(), 415, "upload.unsupported_encoding"),
        ("document", b"", 422, "upload.empty"),
        ("media", samples.mp4(), 422, "upload.use_presigned"),
    ],
)
async def test_refused_files_leave_nothing_behind(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    storage: LocalStorage,
    purpose: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        "/api/v1/uploads",
        params={"purpose": purpose},
        content=data,
        headers=await as_actor(tree.member.id),
    )
    assert_problem(response, status, code)
    assert await _uploads(session) == 0
    assert not [p for p in storage.root.rglob("*") if p.is_file()]


async def test_each_purpose_has_its_own_size_limit(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    resources.settings = resources.settings.model_copy(
        update={"upload": UploadSettings(image_max_mb=1)}
    )
    big_png = samples.png() + b"\0" * (1024 * 1024)
    response = await client.post(
        "/api/v1/uploads",
        params={"purpose": "image"},
        content=big_png,
        headers=await as_actor(tree.member.id),
    )
    assert_problem(response, 413, "upload.too_large")
    assert await _uploads(session) == 0
    # The same bytes fit a document (50 MiB); the JSON routes keep their 1 MiB limit.
    pdf = samples.pdf() + b"\n%" + b"x" * (1024 * 1024)
    document = await client.post(
        "/api/v1/uploads",
        params={"purpose": "document"},
        content=pdf,
        headers=await as_actor(tree.member.id),
    )
    assert document.status_code == 201, document.text
    json_too_big = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        content=b'{"full_name": "' + b"a" * (1024 * 1024) + b'"}',
        headers={**await as_actor(tree.officer_c1.id), "Content-Type": "application/json"},
    )
    assert_problem(json_too_big, 413, "request.too_large")


async def test_uploads_per_member_are_limited(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, resources: Resources
) -> None:
    resources.settings = resources.settings.model_copy(
        update={"upload": UploadSettings(per_member_per_hour=2)}
    )
    headers = await as_actor(tree.member.id)
    for _ in range(2):
        ok = await client.post(
            "/api/v1/uploads", params={"purpose": "image"}, content=samples.png(), headers=headers
        )
        assert ok.status_code == 201
    limited = await client.post(
        "/api/v1/uploads", params={"purpose": "image"}, content=samples.png(), headers=headers
    )
    assert_problem(limited, 429, "rate.limited")
    assert int(limited.headers["Retry-After"]) > 0


async def test_a_presigned_upload_goes_to_the_storage_and_is_checked(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = await as_actor(tree.secretary.id)
    started = await client.post(
        "/api/v1/uploads/presigned",
        json={"purpose": "media", "content_type": "video/mp4", "filename": "Hội nghị.mp4"},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["upload"]["status"] == "pending"
    assert body["url"].startswith("http://127.0.0.1:8000/api/v1/files/")
    complete_url = f"/api/v1/uploads/{body['upload']['id']}/complete"
    assert_problem(await client.post(complete_url, headers=headers), 404, "upload.not_received")
    path = urlsplit(body["url"]).path
    wrong_type = await client.put(
        path, content=samples.mp4(), headers={"Content-Type": "audio/mpeg"}
    )
    assert_problem(wrong_type, 415, "upload.unsupported_type")
    data = samples.mp4(b"video")
    sent = await client.put(path, content=data, headers=body["headers"])
    assert sent.status_code == 204, sent.text
    done = await client.post(complete_url, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready"
    assert done.json()["size"] == len(data)
    content = await client.get(f"/api/v1/uploads/{body['upload']['id']}/content", headers=headers)
    assert content.content == data


async def test_a_presigned_upload_of_another_type_is_deleted(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, storage: LocalStorage
) -> None:
    headers = await as_actor(tree.secretary.id)
    body = (
        await client.post(
            "/api/v1/uploads/presigned",
            json={"purpose": "media", "content_type": "video/mp4"},
            headers=headers,
        )
    ).json()
    path = urlsplit(body["url"]).path
    assert (
        await client.put(path, content=samples.exe(), headers=body["headers"])
    ).status_code == 204
    refused = await client.post(f"/api/v1/uploads/{body['upload']['id']}/complete", headers=headers)
    assert_problem(refused, 415, "upload.unsupported_type")
    assert not [p for p in storage.root.rglob("*") if p.is_file() and "tmp" not in p.parts]


async def test_signed_links_work_until_they_expire(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    storage: LocalStorage,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = samples.pdf()
    created = await client.post(
        "/api/v1/uploads",
        params={"purpose": "document"},
        content=data,
        headers=await as_actor(tree.member.id),
    )
    key = await session.scalar(select(Upload.storage_key).where(Upload.id == created.json()["id"]))
    assert key is not None
    link = await storage.presign_get(key, filename="Văn bản.pdf", content_type="application/pdf")
    path = urlsplit(link).path
    fetched = await client.get(path)  # no login: the link is the credential
    assert fetched.status_code == 200
    assert fetched.content == data
    assert "filename*=UTF-8''V%C4%83n%20b%E1%BA%A3n.pdf" in fetched.headers["content-disposition"]
    ranged = await client.get(path, headers={"Range": "bytes=-4"})
    assert ranged.status_code == 206
    assert ranged.content == data[-4:]
    assert_problem(await client.get(path[:-4] + "AAAA"), 404, "file.not_found")
    # A download link does not upload, and a link past its time is gone.
    assert_problem(await client.put(path, content=b"x"), 404, "file.not_found")
    later = utcnow() + timedelta(days=1)
    monkeypatch.setattr("app.integrations.storage.local.utc_now", lambda: later)
    assert_problem(await client.get(path), 410, "file.link_expired")
