"""Upload intake: real bytes of every accepted type, lies about names and types, oversized and
empty streams, zip bombs and macros; then storing on the local storage and on S3, and presigned
uploads confirmed by content."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest
from pydantic import SecretStr

from app.core.config import StorageSettings, UploadSettings
from app.core.errors import AppError
from app.integrations.storage import LocalStorage, ObjectNotFound, S3Storage, Storage
from app.services.uploads import (
    KINDS,
    EmptyUpload,
    FileKind,
    ReceivedFile,
    UnsupportedUpload,
    UploadNotReceived,
    UploadNotUtf8,
    UploadPolicy,
    UploadPurpose,
    UploadTooLarge,
    confirm_presigned_upload,
    receive_upload,
    safe_filename,
    sniff,
    start_presigned_upload,
    store_upload,
    upload_policy,
)
from tests import samples
from tests.conftest import TEST_SECRET

MiB = 1024 * 1024
SETTINGS = UploadSettings()
DOCUMENT = upload_policy(UploadPurpose.DOCUMENT, SETTINGS)
IMAGE = upload_policy(UploadPurpose.IMAGE, SETTINGS)
IMPORT = upload_policy(UploadPurpose.IMPORT, SETTINGS)
MEDIA = upload_policy(UploadPurpose.MEDIA, SETTINGS)


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class CountingStream:
    """An upload arriving in chunks, counting what the receiver pulled."""

    def __init__(self, head: bytes, total: int, chunk: int = 64 * 1024) -> None:
        self.head, self.total, self.chunk = head, total, chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        self.pulled = len(self.head)
        filler = os.urandom(self.chunk)
        while self.pulled < self.total:
            piece = filler[: min(self.chunk, self.total - self.pulled)]
            self.pulled += len(piece)
            yield piece


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path / "tmp"


def leftovers(tmp_dir: Path) -> list[Path]:
    return list(tmp_dir.iterdir()) if tmp_dir.exists() else []


async def receive(
    data: bytes,
    policy: UploadPolicy,
    tmp_dir: Path,
    *,
    name: str | None = "tep",
    content_type: str | None = None,
) -> ReceivedFile:
    return await receive_upload(
        chunked(data),
        policy=policy,
        declared_name=name,
        declared_type=content_type,
        tmp_dir=tmp_dir,
    )


def assert_problem(error: AppError, status: int, code: str) -> None:
    assert (error.status, error.code) == (status, code)


# Accepted, by content ---------------------------------------------------------------------------

ACCEPTED: list[tuple[Callable[[], bytes], UploadPolicy, FileKind, str]] = [
    (samples.pdf, DOCUMENT, FileKind.PDF, "application/pdf"),
    (samples.docx, DOCUMENT, FileKind.DOCX, KINDS[FileKind.DOCX].content_type),
    (samples.jpeg, DOCUMENT, FileKind.JPEG, "image/jpeg"),
    (samples.png, DOCUMENT, FileKind.PNG, "image/png"),
    (samples.webp, IMAGE, FileKind.WEBP, "image/webp"),
    (samples.png, IMAGE, FileKind.PNG, "image/png"),
    (samples.xlsx, IMPORT, FileKind.XLSX, KINDS[FileKind.XLSX].content_type),
    (samples.csv_utf8, IMPORT, FileKind.CSV, "text/csv"),
    (lambda: samples.csv_utf8(bom=True), IMPORT, FileKind.CSV, "text/csv"),
    (samples.mp3, MEDIA, FileKind.MP3, "audio/mpeg"),
    (samples.m4a, MEDIA, FileKind.M4A, "audio/mp4"),
    (samples.aac, MEDIA, FileKind.AAC, "audio/aac"),
    (samples.mp4, MEDIA, FileKind.MP4, "video/mp4"),
    (samples.gif, MEDIA, FileKind.GIF, "image/gif"),
    (samples.jpeg, MEDIA, FileKind.JPEG, "image/jpeg"),
]


@pytest.mark.parametrize(
    ("make", "policy", "kind", "content_type"),
    ACCEPTED,
    ids=[f"{case[1].purpose.value}-{case[2].value}" for case in ACCEPTED],
)
async def test_accepted_types_are_recognised_by_content(
    tmp_dir: Path,
    make: Callable[[], bytes],
    policy: UploadPolicy,
    kind: FileKind,
    content_type: str,
) -> None:
    data = make()

    received = await receive(data, policy, tmp_dir, name="tệp", content_type="application/x-lie")

    assert (received.kind, received.content_type) == (kind, content_type)
    assert received.size == len(data)
    assert received.sha256 == hashlib.sha256(data).hexdigest()
    assert received.path.parent == tmp_dir
    assert received.path.read_bytes() == data
    assert received.filename == f"tệp.{KINDS[kind].extension}"
    assert received.declared_type == "application/x-lie"
    received.discard()
    assert leftovers(tmp_dir) == []


async def test_the_content_wins_over_a_lying_name_and_type(tmp_dir: Path) -> None:
    received = await receive(
        samples.pdf(),
        DOCUMENT,
        tmp_dir,
        name="Báo cáo tháng 5.docx",
        content_type=KINDS[FileKind.DOCX].content_type,
    )

    assert received.kind is FileKind.PDF
    assert received.content_type == "application/pdf"
    assert received.filename == "Báo cáo tháng 5.pdf"
    assert received.declared_name == "Báo cáo tháng 5.docx"
    received.discard()


@pytest.mark.parametrize(
    ("make", "policy", "name", "content_type"),
    [
        (samples.exe, DOCUMENT, "nghi-quyet.pdf", "application/pdf"),  # an executable posing
        (samples.exe, IMPORT, "members.xlsx", KINDS[FileKind.XLSX].content_type),
        (samples.svg_with_script, IMAGE, "logo.png", "image/png"),
        (samples.svg_with_script, DOCUMENT, "logo.svg", "image/svg+xml"),
        (samples.mp4, DOCUMENT, "video.pdf", "application/pdf"),  # real, but not for documents
        (samples.pdf, IMAGE, "anh.jpg", "image/jpeg"),
        (samples.gif, IMAGE, "anh.gif", "image/gif"),
        (samples.docx, IMPORT, "members.xlsx", KINDS[FileKind.XLSX].content_type),
        (samples.xlsx, DOCUMENT, "bang.docx", KINDS[FileKind.DOCX].content_type),
        (samples.pptx, DOCUMENT, "slides.pptx", KINDS[FileKind.PPTX].content_type),
        (samples.csv_utf8, DOCUMENT, "a.csv", "text/csv"),
        (samples.csv_utf16, IMPORT, "members.csv", "text/csv"),
        (lambda: b"Ho ten,So the\n" + b"\x00" * 10, IMPORT, "members.csv", "text/csv"),
        (lambda: b"a,b\n" + b"x" * (70 * 1024) + b"\n", IMPORT, "long.csv", "text/csv"),
        (lambda: b"just text \x01\x02 with controls\n", IMPORT, "a.csv", "text/csv"),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), IMPORT, "old.xls", None),
        (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), DOCUMENT, "old.doc", None),
    ],
)
async def test_other_types_are_refused_whatever_they_claim(
    tmp_dir: Path,
    make: Callable[[], bytes],
    policy: UploadPolicy,
    name: str,
    content_type: str | None,
) -> None:
    with pytest.raises(UnsupportedUpload) as info:
        await receive(make(), policy, tmp_dir, name=name, content_type=content_type)

    assert_problem(info.value, 415, "upload.unsupported_type")
    assert info.value.detail.endswith(f"Chỉ nhận: {policy.accepted}.")
    assert info.value.extra["accepted"] == sorted(KINDS[k].content_type for k in policy.kinds)
    assert leftovers(tmp_dir) == []


def test_refusals_name_the_accepted_types_in_vietnamese() -> None:
    error = UnsupportedUpload(DOCUMENT)

    assert error.detail == (
        "Định dạng tệp không được chấp nhận. Chỉ nhận: PDF, Word (.docx), JPEG, PNG, WebP."
    )
    assert UnsupportedUpload(IMPORT).detail.endswith("Chỉ nhận: Excel (.xlsx), CSV (UTF-8).")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (samples.docm, "macro"),
        (samples.xlsm, "macro"),
        (samples.docx_with_hidden_macro, "macro"),
        (samples.plain_zip, "không phải tài liệu Office"),
        (lambda: samples.declare_huge_sizes(samples.xlsx()), "bom nén"),
        (samples.xlsx_bomb, "bom nén"),
        (lambda: samples.xlsx()[:-40], "hỏng"),  # truncated: the zip's directory is cut off
    ],
    ids=["docm", "xlsm", "docx-with-vba", "plain-zip", "declared-huge", "ratio-bomb", "truncated"],
)
async def test_office_containers_that_are_not_plain_documents_are_refused(
    tmp_dir: Path, make: Callable[[], bytes], reason: str
) -> None:
    policy = upload_policy(UploadPurpose.IMPORT, UploadSettings(import_max_mb=50))
    for target in (policy, DOCUMENT):
        with pytest.raises(UnsupportedUpload) as info:
            await receive(make(), target, tmp_dir, name="file.docx")

        assert_problem(info.value, 415, "upload.unsupported_type")
        assert reason in info.value.detail
    assert leftovers(tmp_dir) == []


async def test_a_zip_is_refused_at_once_where_no_office_file_is_accepted(tmp_dir: Path) -> None:
    stream = CountingStream(samples.plain_zip(), total=40 * MiB)

    with pytest.raises(UnsupportedUpload):
        await receive_upload(stream, policy=MEDIA, tmp_dir=tmp_dir)

    assert stream.pulled <= 2 * MiB
    assert leftovers(tmp_dir) == []


async def test_a_windows_1258_csv_gets_its_own_problem(tmp_dir: Path) -> None:
    with pytest.raises(UploadNotUtf8) as info:
        await receive(samples.csv_windows_1258(), IMPORT, tmp_dir, name="members.csv")

    assert_problem(info.value, 415, "upload.unsupported_encoding")
    assert "UTF-8" in info.value.detail
    assert leftovers(tmp_dir) == []


async def test_garbage_is_refused_without_reading_it_all(tmp_dir: Path) -> None:
    stream = CountingStream(os.urandom(1024), total=10 * MiB)

    with pytest.raises(UnsupportedUpload):
        await receive_upload(stream, policy=IMPORT, tmp_dir=tmp_dir)

    assert stream.pulled <= 2 * MiB
    assert leftovers(tmp_dir) == []


# Size -------------------------------------------------------------------------------------------


async def test_an_upload_is_refused_as_soon_as_it_passes_the_limit(tmp_dir: Path) -> None:
    policy = upload_policy(UploadPurpose.DOCUMENT, UploadSettings(document_max_mb=1))
    stream = CountingStream(samples.pdf(), total=50 * MiB)

    with pytest.raises(UploadTooLarge) as info:
        await receive_upload(stream, policy=policy, tmp_dir=tmp_dir)

    assert_problem(info.value, 413, "upload.too_large")
    assert info.value.detail == "Tệp vượt quá dung lượng cho phép (1 MB)."
    assert info.value.extra == {"max_bytes": MiB}
    assert stream.pulled <= MiB + 64 * 1024  # stopped at the chunk that crossed the limit
    assert leftovers(tmp_dir) == []


async def test_an_upload_of_exactly_the_limit_is_accepted(tmp_dir: Path) -> None:
    policy = upload_policy(UploadPurpose.MEDIA, UploadSettings(media_max_mb=1))
    data = samples.mp4(os.urandom(MiB - len(samples.mp4())))
    assert len(data) == MiB

    received = await receive(data, policy, tmp_dir)

    assert received.size == MiB
    received.discard()


@pytest.mark.parametrize("policy", [DOCUMENT, IMAGE, IMPORT, MEDIA])
async def test_an_empty_upload_is_refused(tmp_dir: Path, policy: UploadPolicy) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        for piece in (b"", b""):
            yield piece

    with pytest.raises(EmptyUpload) as info:
        await receive_upload(nothing(), policy=policy, tmp_dir=tmp_dir)

    assert_problem(info.value, 422, "upload.empty")
    assert leftovers(tmp_dir) == []


async def test_a_failing_client_stream_leaves_nothing_behind(tmp_dir: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield samples.pdf() + bytes(2 * MiB)
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await receive_upload(broken(), policy=DOCUMENT, tmp_dir=tmp_dir)

    assert leftovers(tmp_dir) == []


async def test_a_client_gone_mid_upload_leaves_nothing_behind(tmp_dir: Path) -> None:
    written = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield samples.pdf() + bytes(2 * MiB)  # one block on disk once the next chunk is asked for
        written.set()
        await anyio.sleep(60)
        yield b"never"

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: receive_upload(stalls(), policy=DOCUMENT, tmp_dir=tmp_dir))
        await written.wait()
        assert len(leftovers(tmp_dir)) == 1
        tasks.cancel_scope.cancel()

    assert leftovers(tmp_dir) == []


async def test_a_big_stream_is_never_held_in_memory(tmp_dir: Path) -> None:
    data_size = 48 * MiB
    stream = CountingStream(samples.mp4(), total=data_size)
    tracemalloc.start()
    try:
        received = await receive_upload(stream, policy=MEDIA, tmp_dir=tmp_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert received.size == data_size
    assert peak < 8 * MiB  # a write block and a chunk or two, never the file
    received.discard()


def test_policies_take_their_limits_from_settings() -> None:
    settings = UploadSettings(
        document_max_mb=80, image_max_mb=5, import_max_mb=30, media_max_mb=900
    )

    limits = {purpose: upload_policy(purpose, settings).max_bytes for purpose in UploadPurpose}

    assert limits == {
        UploadPurpose.DOCUMENT: 80 * MiB,
        UploadPurpose.IMAGE: 5 * MiB,
        UploadPurpose.IMPORT: 30 * MiB,
        UploadPurpose.MEDIA: 900 * MiB,
    }
    assert (DOCUMENT.max_bytes, IMAGE.max_bytes, IMPORT.max_bytes, MEDIA.max_bytes) == (
        50 * MiB,
        10 * MiB,
        20 * MiB,
        500 * MiB,
    )


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("video/mp4", FileKind.MP4),
        ("audio/x-m4a", FileKind.M4A),
        ("audio/mp3", FileKind.MP3),
        ("image/JPG", FileKind.JPEG),
        ("image/png; charset=binary", FileKind.PNG),
        ("application/pdf", None),
        ("image/svg+xml", None),
        ("", None),
    ],
)
def test_media_policy_maps_declared_types(content_type: str, kind: FileKind | None) -> None:
    assert MEDIA.kind_for_content_type(content_type) is kind


@pytest.mark.parametrize(
    ("declared", "kind", "expected"),
    [
        ("Nghị quyết 57.pdf", FileKind.PDF, "Nghị quyết 57.pdf"),
        ("../../etc/passwd", FileKind.PDF, "passwd.pdf"),
        ("C:\\Users\\An\\Báo cáo.DOCX", FileKind.DOCX, "Báo cáo.docx"),
        ("virus.pdf.exe", FileKind.PDF, "virus.pdf.pdf"),
        ("no-extension", FileKind.PNG, "no-extension.png"),
        ("bad\r\nname\x00.csv", FileKind.CSV, "badname.csv"),
        ("...", FileKind.PDF, "tep.pdf"),
        ("", FileKind.MP4, "tep.mp4"),
        (None, FileKind.JPEG, "tep.jpg"),
        ("x" * 300 + ".pdf", FileKind.PDF, "x" * 120 + ".pdf"),
    ],
)
def test_safe_filename(declared: str | None, kind: FileKind, expected: str) -> None:
    assert safe_filename(declared, kind) == expected


@pytest.mark.parametrize("head", [b"", b"\xff", b"RIFF", b"\x00\x00\x00"])
def test_sniff_survives_short_input(head: bytes) -> None:
    assert sniff(head) is None


# Storing ----------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        tmp_path / "storage",
        public_base_url="https://sotay.example.vn",
        secret_key=SecretStr(TEST_SECRET),
    )


async def test_store_upload_moves_the_file_into_local_storage(
    local: LocalStorage, tmp_dir: Path
) -> None:
    data = samples.pdf()
    received = await receive(data, DOCUMENT, tmp_dir, name="Nghị quyết.pdf")

    stored = await store_upload(local, received, "documents/2025")

    assert stored.key.startswith("documents/2025/")
    assert stored.key.endswith(".pdf")
    assert len(stored.key.rsplit("/", 1)[1]) == 32 + 4  # 128 random bits: nothing to guess
    assert (stored.size, stored.kind, stored.content_type) == (
        len(data),
        FileKind.PDF,
        "application/pdf",
    )
    assert (stored.filename, stored.sha256) == ("Nghị quyết.pdf", hashlib.sha256(data).hexdigest())
    assert stored.etag == stored.sha256
    assert await (await local.open(stored.key)).read() == data
    assert leftovers(tmp_dir) == []


async def test_store_upload_removes_the_temporary_file_when_storing_fails(
    local: LocalStorage, tmp_dir: Path
) -> None:
    received = await receive(samples.png(), IMAGE, tmp_dir)

    with pytest.raises(ValueError, match="invalid object key"):
        await store_upload(local, received, "../outside")

    assert leftovers(tmp_dir) == []


async def test_store_upload_to_s3_goes_up_in_parts(
    s3_settings: StorageSettings, tmp_dir: Path
) -> None:
    storage = S3Storage(s3_settings)
    data = samples.mp4(os.urandom(11 * MiB))
    try:
        received = await receive(data, MEDIA, tmp_dir, name="Hội nghị.mp4")
        stored = await store_upload(storage, received, "media")
        info = await storage.stat(stored.key)
        tail = await (await storage.open(stored.key, (len(data) - 100, None))).read()
    finally:
        await storage.aclose()

    assert stored.etag.endswith("-3")  # 5 + 5 + 1 MiB parts
    assert (info.size, info.content_type) == (len(data), "video/mp4")
    assert tail == data[-100:]
    assert leftovers(tmp_dir) == []


# Presigned uploads --------------------------------------------------------------------------------


async def upload_via_local_url(local: LocalStorage, url: str, data: bytes) -> None:
    """What the files route does with a PUT to a LocalStorage upload URL."""
    grant = local.verify_signed_token(url.rsplit("/", 1)[1])
    assert grant.op == "put"
    assert grant.content_type is not None
    await local.put_stream(
        grant.key, chunked(data), content_type=grant.content_type, max_bytes=grant.max_bytes
    )


async def test_presigned_upload_on_local_storage_is_confirmed_by_content(
    local: LocalStorage, tmp_dir: Path
) -> None:
    pending = await start_presigned_upload(
        local, policy=MEDIA, content_type="audio/x-m4a", key_prefix="media/incoming"
    )
    await upload_via_local_url(local, pending.url, samples.m4a())

    stored = await confirm_presigned_upload(
        local, pending.key, policy=MEDIA, declared_name="Bài giảng.m4a", tmp_dir=tmp_dir
    )

    assert (pending.kind, pending.headers) == (FileKind.M4A, {"Content-Type": "audio/mp4"})
    assert pending.max_bytes == MEDIA.max_bytes
    assert (stored.key, stored.kind, stored.filename) == (
        pending.key,
        FileKind.M4A,
        "Bài giảng.m4a",
    )
    assert stored.sha256 is None


async def test_presigned_upload_is_refused_for_a_type_the_policy_does_not_take(
    local: LocalStorage,
) -> None:
    with pytest.raises(UnsupportedUpload):
        await start_presigned_upload(
            local, policy=MEDIA, content_type="application/x-msdownload", key_prefix="media"
        )


@pytest.mark.parametrize(
    ("announced", "make", "error"),
    [
        ("video/mp4", samples.mp3, UnsupportedUpload),  # another type than announced
        ("video/mp4", samples.exe, UnsupportedUpload),
        ("image/png", samples.svg_with_script, UnsupportedUpload),
        ("video/mp4", lambda: b"", EmptyUpload),
        ("video/mp4", lambda: samples.mp4(bytes(2 * MiB)), UploadTooLarge),
    ],
)
async def test_a_presigned_upload_that_fails_its_checks_is_deleted(
    local: LocalStorage,
    tmp_dir: Path,
    announced: str,
    make: Callable[[], bytes],
    error: type[AppError],
) -> None:
    policy = upload_policy(UploadPurpose.MEDIA, UploadSettings(media_max_mb=1))
    pending = await start_presigned_upload(
        local, policy=policy, content_type=announced, key_prefix="media"
    )
    # The local route enforces the size as it receives; S3 does not, so write past it directly.
    await local.put_stream(
        pending.key, chunked(make()), content_type=pending.headers["Content-Type"]
    )

    with pytest.raises(error):
        await confirm_presigned_upload(local, pending.key, policy=policy, tmp_dir=tmp_dir)

    with pytest.raises(ObjectNotFound):
        await local.stat(pending.key)
    assert leftovers(tmp_dir) == []


async def test_confirming_an_upload_that_never_came(local: LocalStorage) -> None:
    with pytest.raises(UploadNotReceived) as info:
        await confirm_presigned_upload(local, "media/never.mp4", policy=MEDIA)

    assert_problem(info.value, 404, "upload.not_received")


async def test_presigned_upload_of_an_office_file_is_checked_whole(
    local: LocalStorage, tmp_dir: Path
) -> None:
    for data, error in ((samples.xlsx(), None), (samples.xlsm(), UnsupportedUpload)):
        pending = await start_presigned_upload(
            local, policy=IMPORT, content_type=KINDS[FileKind.XLSX].content_type, key_prefix="imp"
        )
        await upload_via_local_url(local, pending.url, data)
        if error is None:
            stored = await confirm_presigned_upload(
                local, pending.key, policy=IMPORT, tmp_dir=tmp_dir
            )
            assert stored.kind is FileKind.XLSX
        else:
            with pytest.raises(error):
                await confirm_presigned_upload(local, pending.key, policy=IMPORT, tmp_dir=tmp_dir)
    assert leftovers(tmp_dir) == []


async def test_presigned_upload_straight_to_s3(s3_settings: StorageSettings, tmp_dir: Path) -> None:
    storage: Storage = S3Storage(s3_settings)
    data = samples.mp4(os.urandom(300_000))
    try:
        pending = await start_presigned_upload(
            storage, policy=MEDIA, content_type="video/mp4", key_prefix="media/incoming"
        )
        async with httpx.AsyncClient() as client:
            response = await client.put(pending.url, content=data, headers=pending.headers)
        assert response.status_code == 200, response.text

        stored = await confirm_presigned_upload(
            storage, pending.key, policy=MEDIA, declared_name="clip.mov", tmp_dir=tmp_dir
        )
    finally:
        await storage.aclose()

    assert (stored.size, stored.kind, stored.filename) == (len(data), FileKind.MP4, "clip.mp4")
