"""File storage: the same contract on the local directory and on S3 (moto's server on 127.0.0.1),
then what only one of them does (our signed URLs; S3's presigned URLs and multipart uploads)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings, StorageSettings
from app.integrations.storage import (
    SIGNED_URL_PATH,
    ByteRange,
    InvalidKey,
    InvalidSignedToken,
    LocalStorage,
    ObjectNotFound,
    ObjectTooLarge,
    RangeNotSatisfiable,
    S3Storage,
    Storage,
    build_storage,
    content_disposition,
    parse_range_header,
)
from tests.conftest import S3_SECRET, TEST_SECRET

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

BASE_URL = "https://sotay.example.vn"
DIGITS = b"0123456789"
MiB = 1024 * 1024


def local_storage(root: Path, secret: str = TEST_SECRET) -> LocalStorage:
    return LocalStorage(root, public_base_url=BASE_URL, secret_key=SecretStr(secret))


@pytest.fixture(params=["local", "s3"])
async def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    made: Storage
    if request.param == "local":
        made = local_storage(tmp_path / "storage")
    else:
        made = S3Storage(request.getfixturevalue("s3_settings"))
    yield made
    await made.aclose()


@pytest.fixture
async def s3(s3_settings: StorageSettings) -> AsyncIterator[S3Storage]:
    storage = S3Storage(s3_settings)
    yield storage
    await storage.aclose()


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# The contract, on both backends ----------------------------------------------------------------


async def test_put_file_then_read_stat_and_delete(any_storage: Storage, tmp_path: Path) -> None:
    source = write_file(tmp_path / "source.pdf", b"%PDF-1.4 body")

    info = await any_storage.put_file("documents/a1.pdf", source, content_type="application/pdf")

    assert (info.key, info.size, info.content_type) == ("documents/a1.pdf", 13, "application/pdf")
    assert info.etag
    assert source.exists()  # copied, not consumed
    stream = await any_storage.open("documents/a1.pdf")
    assert (stream.start, stream.end, stream.is_partial) == (0, 12, False)
    assert await stream.read() == b"%PDF-1.4 body"
    assert await any_storage.stat("documents/a1.pdf") == info

    await any_storage.delete("documents/a1.pdf")

    with pytest.raises(ObjectNotFound):
        await any_storage.stat("documents/a1.pdf")
    with pytest.raises(ObjectNotFound):
        await any_storage.open("documents/a1.pdf")


async def test_put_file_with_move_consumes_the_file(any_storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(3000)
    source = write_file(tmp_path / "upload.part", data)

    info = await any_storage.put_file(
        "media/clip.bin",
        source,
        content_type="application/octet-stream",
        sha256=hashlib.sha256(data).hexdigest(),
        move=True,
    )

    assert info.size == 3000
    assert not source.exists()
    assert await (await any_storage.open("media/clip.bin")).read() == data


async def test_put_stream_stores_the_chunks_in_order(any_storage: Storage) -> None:
    data = os.urandom(300_000)

    info = await any_storage.put_stream(
        "imports/members.csv", chunked(data, 7_000), content_type="text/csv"
    )

    assert (info.size, info.content_type) == (300_000, "text/csv")
    assert await (await any_storage.open("imports/members.csv")).read() == data


async def test_put_stream_past_the_limit_stores_nothing(any_storage: Storage) -> None:
    with pytest.raises(ObjectTooLarge):
        await any_storage.put_stream(
            "media/too-big.bin",
            chunked(b"x" * 10_000, 1000),
            content_type="application/octet-stream",
            max_bytes=9_999,
        )

    with pytest.raises(ObjectNotFound):
        await any_storage.stat("media/too-big.bin")


async def test_put_replaces_an_existing_object(any_storage: Storage) -> None:
    await any_storage.put_stream("a/b.txt", chunked(b"old"), content_type="text/plain")
    await any_storage.put_stream("a/b.txt", chunked(b"newer"), content_type="text/csv")

    info = await any_storage.stat("a/b.txt")

    assert (info.size, info.content_type) == (5, "text/csv")
    assert await (await any_storage.open("a/b.txt")).read() == b"newer"


@pytest.mark.parametrize(
    ("wanted", "start", "end", "body"),
    [
        ((2, 4), 2, 4, b"234"),
        ((7, None), 7, 9, b"789"),
        ((None, 3), 7, 9, b"789"),  # the last three bytes
        ((None, 50), 0, 9, DIGITS),  # a suffix longer than the object is all of it
        ((8, 1000), 8, 9, b"89"),  # an end past the object stops at its end
        ((0, 0), 0, 0, b"0"),
    ],
)
async def test_open_reads_one_byte_range(
    any_storage: Storage,
    wanted: tuple[int | None, int | None],
    start: int,
    end: int,
    body: bytes,
) -> None:
    await any_storage.put_stream("r/digits.txt", chunked(DIGITS), content_type="text/plain")

    stream = await any_storage.open("r/digits.txt", wanted)

    assert (stream.start, stream.end, stream.length) == (start, end, len(body))
    assert stream.info.size == 10
    assert stream.content_range == f"bytes {start}-{end}/10"
    assert stream.is_partial is (len(body) != 10)
    assert await stream.read() == body


@pytest.mark.parametrize("wanted", [ByteRange(10, None), ByteRange(25, 30), ByteRange(None, 0)])
async def test_open_refuses_a_range_past_the_end(any_storage: Storage, wanted: ByteRange) -> None:
    await any_storage.put_stream("r/digits.txt", chunked(DIGITS), content_type="text/plain")

    with pytest.raises(RangeNotSatisfiable) as info:
        await any_storage.open("r/digits.txt", wanted)

    assert info.value.size == 10


async def test_an_empty_object_reads_as_nothing(any_storage: Storage) -> None:
    await any_storage.put_stream("e/empty.txt", chunked(b""), content_type="text/plain")

    stream = await any_storage.open("e/empty.txt")

    assert (stream.info.size, stream.length) == (0, 0)
    assert [chunk async for chunk in stream] == []
    with pytest.raises(RangeNotSatisfiable):
        await any_storage.open("e/empty.txt", (0, None))


async def test_large_object_streams_in_bounded_chunks(any_storage: Storage) -> None:
    data = os.urandom(MiB + 123)
    await any_storage.put_stream("big/blob.bin", chunked(data), content_type="video/mp4")

    sizes = [len(chunk) async for chunk in await any_storage.open("big/blob.bin")]

    assert sum(sizes) == len(data)
    assert max(sizes) <= 256 * 1024


async def test_deleting_a_missing_object_is_not_an_error(any_storage: Storage) -> None:
    await any_storage.delete("never/was.pdf")


async def test_an_unread_stream_can_be_closed(any_storage: Storage) -> None:
    await any_storage.put_stream("c/x.bin", chunked(b"abc"), content_type="text/plain")

    stream = await any_storage.open("c/x.bin")
    await stream.aclose()
    await stream.aclose()  # twice is fine


BAD_KEYS = [
    "",
    "../etc/passwd",
    "a/../../b",
    "/absolute",
    "a//b",
    "a/",
    ".hidden",
    "a/.git/config",
    "a\\b",
    "a b",
    "tài-liệu.pdf",
    "a/b\x00c",
    "x" * 600,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_keys_that_could_escape_or_confuse_are_refused(
    any_storage: Storage, tmp_path: Path, key: str
) -> None:
    source = write_file(tmp_path / "f", b"x")

    with pytest.raises(InvalidKey):
        await any_storage.put_file(key, source, content_type="text/plain")
    with pytest.raises(InvalidKey):
        await any_storage.put_stream(key, chunked(b"x"), content_type="text/plain")
    with pytest.raises(InvalidKey):
        await any_storage.open(key)
    with pytest.raises(InvalidKey):
        await any_storage.stat(key)
    with pytest.raises(InvalidKey):
        await any_storage.delete(key)
    with pytest.raises(InvalidKey):
        await any_storage.presign_get(key)
    with pytest.raises(InvalidKey):
        await any_storage.presign_put(key, content_type="text/plain", max_bytes=1)


# Local storage ---------------------------------------------------------------------------------


async def test_local_writes_under_its_root_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    storage = local_storage(tmp_path / "storage")

    await storage.put_stream("documents/2025/a.pdf", chunked(b"%PDF"), content_type="x/y")
    await storage.put_file(
        "documents/2025/b.pdf", write_file(tmp_path / "b", b"%PDF"), content_type="x/y"
    )

    assert (tmp_path / "storage/data/documents/2025/a.pdf").read_bytes() == b"%PDF"
    assert (tmp_path / "storage/data/documents/2025/b.pdf").exists()
    assert list((tmp_path / "storage/tmp").iterdir()) == []


async def test_local_failed_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    storage = local_storage(tmp_path / "storage")
    await storage.put_stream("k/doc.pdf", chunked(b"the old one"), content_type="x/y")

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (2 * MiB)  # written to the temporary file already
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await storage.put_stream("k/doc.pdf", broken(), content_type="x/y")

    assert await (await storage.open("k/doc.pdf")).read() == b"the old one"  # untouched
    assert list((tmp_path / "storage/tmp").iterdir()) == []


async def test_local_etag_is_the_content_hash(tmp_path: Path) -> None:
    storage = local_storage(tmp_path / "storage")

    info = await storage.put_stream("h/x.txt", chunked(b"hello"), content_type="text/plain")

    assert info.etag == hashlib.sha256(b"hello").hexdigest()


async def test_local_move_renames_a_file_from_the_same_filesystem(tmp_path: Path) -> None:
    storage = local_storage(tmp_path / "storage")
    source = write_file(tmp_path / "upload.part", b"data")
    inode = source.stat().st_ino

    await storage.put_file(
        "m/x.bin",
        source,
        content_type="application/octet-stream",
        sha256=hashlib.sha256(b"data").hexdigest(),
        move=True,
    )

    assert (tmp_path / "storage/data/m/x.bin").stat().st_ino == inode  # renamed, not copied


async def test_local_key_that_collides_with_a_folder_is_a_storage_error(tmp_path: Path) -> None:
    storage = local_storage(tmp_path / "storage")
    await storage.put_stream("a/b", chunked(b"1"), content_type="text/plain")

    with pytest.raises(Exception, match="conflicts"):
        await storage.put_stream("a/b/c", chunked(b"2"), content_type="text/plain")


def token_of(url: str) -> str:
    prefix = BASE_URL + SIGNED_URL_PATH + "/"
    assert url.startswith(prefix)
    return url[len(prefix) :]


async def test_local_presigned_get_is_a_signed_link_under_the_public_base_url(
    tmp_path: Path,
) -> None:
    storage = local_storage(tmp_path)

    url = await storage.presign_get(
        "documents/a1.pdf",
        expires_s=60,
        filename="Nghị quyết 57.pdf",
        content_type="application/pdf",
        inline=True,
    )
    grant = storage.verify_signed_token(token_of(url))

    assert "documents" not in url  # the key travels inside the signed token, not as a path
    assert (grant.key, grant.op, grant.filename, grant.content_type, grant.inline) == (
        "documents/a1.pdf",
        "get",
        "Nghị quyết 57.pdf",
        "application/pdf",
        True,
    )
    assert grant.max_bytes is None
    remaining = grant.expires_at - datetime.now(UTC)
    assert timedelta(seconds=55) < remaining <= timedelta(seconds=60)


async def test_local_presigned_put_carries_type_and_size_limit(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)

    upload = await storage.presign_put(
        "incoming/v1.mp4", content_type="video/mp4", max_bytes=500 * MiB, expires_s=600
    )
    grant = storage.verify_signed_token(token_of(upload.url))

    assert (upload.method, upload.headers) == ("PUT", {"Content-Type": "video/mp4"})
    assert (grant.key, grant.op, grant.content_type, grant.max_bytes) == (
        "incoming/v1.mp4",
        "put",
        "video/mp4",
        500 * MiB,
    )
    assert grant.expires_at == upload.expires_at.replace(microsecond=0)


async def test_local_two_links_to_the_same_file_differ(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)

    first = await storage.presign_get("d/a.pdf")
    second = await storage.presign_get("d/a.pdf")

    assert first != second


async def test_local_expired_token_is_refused(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)
    token = token_of(await storage.presign_get("d/a.pdf", expires_s=30))

    with pytest.raises(InvalidSignedToken) as info:
        storage.verify_signed_token(token, now=datetime.now(UTC) + timedelta(seconds=31))

    assert info.value.reason == "expired"


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


async def test_local_tampered_or_foreign_tokens_are_refused(tmp_path: Path) -> None:
    storage = local_storage(tmp_path)
    token = token_of((await storage.presign_put("d/a.pdf", content_type="x/y", max_bytes=10)).url)
    payload, signature = token.split(".")
    other = local_storage(tmp_path, secret="another-deployment-secret-" + "y" * 30)
    foreign = token_of(await other.presign_get("d/a.pdf"))
    bad = [
        flip(token, 5),  # the claims changed (e.g. a bigger max_bytes)
        flip(token, len(token) - 3),  # the signature changed
        payload + "." + signature[:-2],
        payload,
        token + ".x",
        "",
        "not a token",
        "....",
        foreign,
    ]

    for candidate in bad:
        with pytest.raises(InvalidSignedToken) as info:
            storage.verify_signed_token(candidate)
        assert info.value.reason == "invalid", candidate


async def test_local_without_a_secret_signs_nothing(tmp_path: Path) -> None:
    storage = local_storage(tmp_path, secret="")

    with pytest.raises(Exception, match="AUTH__SECRET_KEY"):
        await storage.presign_get("d/a.pdf")


# S3 --------------------------------------------------------------------------------------------


async def test_s3_presigned_put_then_presigned_get_over_http(s3: S3Storage) -> None:
    data = b"ID3" + os.urandom(5000)
    upload = await s3.presign_put(
        "incoming/song.mp3", content_type="audio/mpeg", max_bytes=MiB, expires_s=120
    )

    async with httpx.AsyncClient() as client:
        put = await client.put(upload.url, content=data, headers=upload.headers)
        assert put.status_code == 200, put.text
        info = await s3.stat("incoming/song.mp3")
        url = await s3.presign_get(
            "incoming/song.mp3", expires_s=60, filename="Bài hát.mp3", content_type="audio/mpeg"
        )
        got = await client.get(url)

    assert (info.size, info.content_type) == (len(data), "audio/mpeg")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "audio/mpeg"
    assert got.headers["content-disposition"] == content_disposition("Bài hát.mp3")
    query = unquote(urlsplit(url).query)
    assert "X-Amz-Signature=" in query
    assert "X-Amz-Expires=60" in query


async def test_s3_presigned_urls_use_the_presign_endpoint(s3_settings: StorageSettings) -> None:
    settings = s3_settings.model_copy(
        update={"s3_presign_endpoint_url": "https://files.sotay.example.vn"}
    )
    storage = S3Storage(settings)
    try:
        get_url = await storage.presign_get("d/a.pdf")
        put = await storage.presign_put("d/b.pdf", content_type="application/pdf", max_bytes=1)
    finally:
        await storage.aclose()

    assert get_url.startswith(f"https://files.sotay.example.vn/{settings.s3_bucket}/d/a.pdf?")
    assert put.url.startswith(f"https://files.sotay.example.vn/{settings.s3_bucket}/d/b.pdf?")


async def test_s3_big_file_goes_up_in_parts(s3: S3Storage, tmp_path: Path) -> None:
    data = os.urandom(11 * MiB)  # over the 5 MiB threshold: three parts of 5, 5 and 1 MiB
    source = write_file(tmp_path / "video.mp4", data)

    info = await s3.put_file("media/v.mp4", source, content_type="video/mp4")

    assert info.size == len(data)
    assert info.etag.endswith("-3")  # a multipart upload's ETag counts its parts
    tail = await (await s3.open("media/v.mp4", (10 * MiB, None))).read()
    assert tail == data[10 * MiB :]


async def test_s3_big_stream_goes_up_in_parts(s3: S3Storage) -> None:
    data = os.urandom(11 * MiB)

    info = await s3.put_stream("media/s.mp4", chunked(data), content_type="video/mp4")

    assert (info.size, info.content_type) == (len(data), "video/mp4")
    assert info.etag.endswith("-3")
    read = await (await s3.open("media/s.mp4")).read()
    assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()


async def test_s3_failed_multipart_stream_is_aborted(
    s3: S3Storage, s3_admin: S3Client, s3_settings: StorageSettings
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (6 * MiB)  # one part sent
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await s3.put_stream("media/broken.mp4", broken(), content_type="video/mp4")

    with pytest.raises(ObjectNotFound):
        await s3.stat("media/broken.mp4")
    uploads = s3_admin.list_multipart_uploads(Bucket=s3_settings.s3_bucket)
    assert uploads.get("Uploads", []) == []


async def test_s3_secret_never_reaches_the_log(
    s3: S3Storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore, urllib3 and s3transfer included

    await s3.put_stream("l/x.txt", chunked(b"abc"), content_type="text/plain")
    await (await s3.open("l/x.txt", (0, 1))).read()
    await s3.presign_get("l/x.txt")
    await s3.delete("l/x.txt")

    assert caplog.records
    for record in caplog.records:
        assert S3_SECRET not in record.getMessage()


# Building, helpers -----------------------------------------------------------------------------


def test_build_storage_defaults_to_a_directory_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_base_url="https://sotay.example.vn/")

    storage = build_storage(settings)

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "storage"
    assert not storage.root.exists()  # created on first write, not at start


async def test_build_storage_s3(s3_settings: StorageSettings) -> None:
    storage = build_storage(Settings(storage=s3_settings))
    try:
        assert isinstance(storage, S3Storage)
        await storage.put_stream("b/x.txt", chunked(b"ok"), content_type="text/plain")
        assert (await storage.stat("b/x.txt")).size == 2
    finally:
        await storage.aclose()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, None)),
        ("bytes=-500", ByteRange(None, 500)),
        (" bytes=5-5 ", ByteRange(5, 5)),
        (None, None),
        ("", None),
        ("bytes=5-1", None),  # invalid: ignored, the whole object is sent
        ("bytes=0-1,5-6", None),  # several ranges: ignored
        ("bytes=-", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=" + "9" * 30 + "-", None),
    ],
)
def test_parse_range_header(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range_header(header) == expected


@pytest.mark.parametrize(
    ("name", "inline", "expected"),
    [
        ("report.pdf", False, 'attachment; filename="report.pdf"'),
        ("a.pdf", True, 'inline; filename="a.pdf"'),
        (
            "Nghị quyết số 57.pdf",
            False,
            "attachment; filename=\"Nghi quyet so 57.pdf\"; filename*=UTF-8''"
            "Ngh%E1%BB%8B%20quy%E1%BA%BFt%20s%E1%BB%91%2057.pdf",
        ),
        (
            'Đảng "ủy".docx',
            False,
            "attachment; filename=\"Dang uy.docx\"; filename*=UTF-8''"
            "%C4%90%E1%BA%A3ng%20%22%E1%BB%A7y%22.docx",
        ),
    ],
)
def test_content_disposition_keeps_vietnamese_names(name: str, inline: bool, expected: str) -> None:
    assert content_disposition(name, inline=inline) == expected


def test_content_disposition_never_breaks_the_header() -> None:
    value = content_disposition("evil\r\nSet-Cookie: x=1.pdf")

    assert "\r" not in value
    assert "\n" not in value
