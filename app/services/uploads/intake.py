"""Receiving uploads against a policy, storing them, and presigned uploads confirmed by content."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Final, NoReturn

import anyio
import anyio.to_thread

from app.core.config import UploadSettings
from app.core.errors import ContentTooLarge, NotFound, Unprocessable, UnsupportedMediaType
from app.integrations.storage import ObjectNotFound, Storage, validate_key
from app.services.uploads.content import (
    HEAD_BYTES,
    KINDS,
    OFFICE_KINDS,
    TEXT_KINDS,
    ZIP,
    FileKind,
    OfficeFileRefused,
    TextScan,
    inspect_office_zip,
    looks_like_legacy_text,
    safe_filename,
    sniff,
)

log = logging.getLogger("app.uploads")

MiB: Final = 1024 * 1024
WRITE_BLOCK_BYTES: Final = MiB  # incoming bytes are written and hashed in blocks of this size


class UploadPurpose(StrEnum):
    DOCUMENT = "document"  # attachments of documents, minutes, plans
    IMAGE = "image"  # cover images, avatars
    IMPORT = "import"  # member spreadsheets
    MEDIA = "media"  # audio, video and pictures of bulletins; large, sent by presigned upload


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    purpose: UploadPurpose
    max_bytes: int
    kinds: frozenset[FileKind]

    @property
    def accepted(self) -> str:
        """The accepted types, as people read them: "PDF, Word (.docx), JPEG, PNG, WebP"."""
        return ", ".join(KINDS[kind].label for kind in FileKind if kind in self.kinds)

    def kind_for_content_type(self, content_type: str) -> FileKind | None:
        """The accepted kind a declared content type names (for presigned uploads), if any."""
        wanted = content_type.split(";", 1)[0].strip().lower()
        for kind in self.kinds:
            info = KINDS[kind]
            if wanted == info.content_type or wanted in info.aliases:
                return kind
        return None


_POLICY_KINDS: Final[dict[UploadPurpose, tuple[FileKind, ...]]] = {
    UploadPurpose.DOCUMENT: (
        FileKind.PDF,
        FileKind.DOCX,
        FileKind.JPEG,
        FileKind.PNG,
        FileKind.WEBP,
    ),
    UploadPurpose.IMAGE: (FileKind.JPEG, FileKind.PNG, FileKind.WEBP),
    UploadPurpose.IMPORT: (FileKind.XLSX, FileKind.CSV),
    UploadPurpose.MEDIA: (
        FileKind.MP3,
        FileKind.M4A,
        FileKind.AAC,
        FileKind.MP4,
        FileKind.JPEG,
        FileKind.PNG,
        FileKind.WEBP,
        FileKind.GIF,
    ),
}


def upload_policy(purpose: UploadPurpose, settings: UploadSettings) -> UploadPolicy:
    """The policy of one purpose, with its size limit from settings (`UPLOAD__<PURPOSE>_MAX_MB`)."""
    max_mb: int = getattr(settings, f"{purpose.value}_max_mb")
    return UploadPolicy(
        purpose=purpose, max_bytes=max_mb * MiB, kinds=frozenset(_POLICY_KINDS[purpose])
    )


# Problems ---------------------------------------------------------------------------------------


class UploadTooLarge(ContentTooLarge):
    default_code = "upload.too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"Tệp vượt quá dung lượng cho phép ({_format_size(max_bytes)}).",
            extra={"max_bytes": max_bytes},
        )


class UnsupportedUpload(UnsupportedMediaType):
    default_code = "upload.unsupported_type"

    def __init__(self, policy: UploadPolicy, reason: str | None = None) -> None:
        detail = f"Định dạng tệp không được chấp nhận. Chỉ nhận: {policy.accepted}."
        if reason:
            detail = f"{reason} {detail}"
        super().__init__(
            detail,
            extra={"accepted": sorted(KINDS[kind].content_type for kind in policy.kinds)},
        )


class UploadNotUtf8(UnsupportedMediaType):
    default_code = "upload.unsupported_encoding"
    default_detail = (
        "Tệp CSV phải được lưu với bảng mã UTF-8 (trong Excel: Lưu thành → CSV UTF-8). "
        "Tệp này dùng bảng mã khác (ví dụ Windows-1258)."
    )


class EmptyUpload(Unprocessable):
    default_code = "upload.empty"
    default_detail = "Tệp tải lên không có dữ liệu."


class UploadNotReceived(NotFound):
    default_code = "upload.not_received"
    default_detail = "Chưa nhận được tệp tải lên, hoặc liên kết tải lên đã hết hạn."


def _format_size(size: int) -> str:
    return f"{size // MiB} MB" if size >= MiB else f"{size} byte"


# What arrived -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """A checked upload in a temporary file, until `store_upload` (or `discard`) removes it."""

    path: Path
    size: int
    sha256: str
    kind: FileKind
    content_type: str  # of the real type, never the client's
    filename: str  # a safe download name: the declared name's stem with the real extension
    declared_name: str | None
    declared_type: str | None

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    kind: FileKind
    content_type: str
    filename: str
    etag: str
    sha256: str | None  # None for presigned uploads (the bytes never passed through the API)


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A presigned upload handed to a client: remember `key` until it is confirmed."""

    key: str
    kind: FileKind
    url: str
    method: str
    headers: dict[str, str]
    max_bytes: int
    expires_at: datetime


# Receiving --------------------------------------------------------------------------------------


class _Spool:
    """The temporary file and what is learnt while writing it; its methods run in a thread."""

    def __init__(self, tmp_dir: Path | None) -> None:
        if tmp_dir is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".part")
        self.path = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.text = TextScan()
        self.scan_text = True

    def write(self, block: bytes, final: bool) -> None:
        self.digest.update(block)
        self.file.write(block)
        if self.scan_text:
            self.text.feed(block, final=final)

    def finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        self.path.unlink(missing_ok=True)


async def receive_upload(
    chunks: AsyncIterable[bytes],
    *,
    policy: UploadPolicy,
    declared_name: str | None = None,
    declared_type: str | None = None,
    tmp_dir: Path | None = None,
) -> ReceivedFile:
    """Stream an upload into a temporary file in `tmp_dir` (`settings.upload_tmp_dir`) and check
    it against `policy`. Raises `UploadTooLarge` (413) as soon as the limit is passed,
    `EmptyUpload` (422), `UnsupportedUpload` or `UploadNotUtf8` (415); nothing is left behind.
    The caller owns the result: `store_upload` it or `discard` it."""
    spool = await anyio.to_thread.run_sync(_Spool, tmp_dir)
    try:
        received = await _receive(spool, chunks, policy)
        kind = await _decide(spool, received, policy)
    except BaseException:
        with anyio.CancelScope(shield=True):  # also when the client went away mid-upload
            await anyio.to_thread.run_sync(spool.remove)
        raise
    log.info(
        "upload received",
        extra={"purpose": policy.purpose.value, "kind": kind.value, "size": received.size},
    )
    return ReceivedFile(
        path=spool.path,
        size=received.size,
        sha256=spool.digest.hexdigest(),
        kind=kind,
        content_type=KINDS[kind].content_type,
        filename=safe_filename(declared_name, kind),
        declared_name=declared_name,
        declared_type=declared_type,
    )


@dataclass(slots=True)
class _Received:
    size: int
    head: bytes
    sniffed: FileKind | str | None


async def _receive(spool: _Spool, chunks: AsyncIterable[bytes], policy: UploadPolicy) -> _Received:
    size = 0
    buffer = bytearray()
    head: bytes | None = None
    sniffed: FileKind | str | None = None

    async def flush(final: bool) -> None:
        nonlocal head, sniffed, buffer
        if head is None:
            head = bytes(buffer[:HEAD_BYTES])
            sniffed = sniff(head)
            _refuse_early(sniffed, policy)
            spool.scan_text = sniffed is None
        block, buffer = bytes(buffer), bytearray()
        await anyio.to_thread.run_sync(spool.write, block, final)
        if spool.scan_text and not spool.text.active:
            _refuse_text(spool.text, head, policy)  # neither a known type nor text: stop now

    async for chunk in chunks:
        size += len(chunk)
        if size > policy.max_bytes:
            raise UploadTooLarge(policy.max_bytes)
        buffer += chunk
        if len(buffer) >= WRITE_BLOCK_BYTES:
            await flush(final=False)
    if size == 0:
        raise EmptyUpload
    await flush(final=True)
    await anyio.to_thread.run_sync(spool.finish)
    return _Received(size=size, head=head or b"", sniffed=sniffed)


def _refuse_early(sniffed: FileKind | str | None, policy: UploadPolicy) -> None:
    """Refuse from the first bytes when they already show a type the policy does not take."""
    if isinstance(sniffed, FileKind) and sniffed not in policy.kinds:
        raise UnsupportedUpload(policy)
    if sniffed == ZIP and not (policy.kinds & OFFICE_KINDS):
        raise UnsupportedUpload(policy)
    if sniffed is None and not (policy.kinds & TEXT_KINDS):
        raise UnsupportedUpload(policy)


def _refuse_text(scan: TextScan, head: bytes, policy: UploadPolicy) -> NoReturn:
    if not scan.utf8 and FileKind.CSV in policy.kinds and looks_like_legacy_text(head):
        raise UploadNotUtf8
    raise UnsupportedUpload(policy)


async def _decide(spool: _Spool, received: _Received, policy: UploadPolicy) -> FileKind:
    kind: FileKind | None
    if received.sniffed == ZIP:
        try:
            kind = await anyio.to_thread.run_sync(inspect_office_zip, spool.path)
        except OfficeFileRefused as refused:
            raise UnsupportedUpload(policy, str(refused)) from None
    elif isinstance(received.sniffed, FileKind):
        kind = received.sniffed
    else:
        kind = spool.text.kind()
        if kind is None:
            _refuse_text(spool.text, received.head, policy)
    if kind not in policy.kinds:
        raise UnsupportedUpload(policy)
    return kind


# Storing ----------------------------------------------------------------------------------------


def new_object_key(prefix: str, kind: FileKind) -> str:
    """A fresh, unguessable key under `prefix`: `documents/2025` → `documents/2025/<hex>.pdf`."""
    return validate_key(f"{prefix.strip('/')}/{secrets.token_hex(16)}.{KINDS[kind].extension}")


async def store_upload(storage: Storage, received: ReceivedFile, key_prefix: str) -> StoredObject:
    """Put a checked upload into the storage under a new key below `key_prefix`; the temporary
    file is gone afterwards whatever happens."""
    try:
        key = new_object_key(key_prefix, received.kind)
        info = await storage.put_file(
            key,
            received.path,
            content_type=received.content_type,
            sha256=received.sha256,
            move=True,
        )
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(received.discard)
    return StoredObject(
        key=key,
        size=info.size,
        kind=received.kind,
        content_type=received.content_type,
        filename=received.filename,
        etag=info.etag,
        sha256=received.sha256,
    )


async def start_presigned_upload(
    storage: Storage,
    *,
    policy: UploadPolicy,
    content_type: str,
    key_prefix: str,
    expires_s: int | None = None,
) -> PendingUpload:
    """A presigned PUT for one file of a type the policy takes (415 otherwise). Keep the returned
    key with the pending upload: only that key may be confirmed later."""
    kind = policy.kind_for_content_type(content_type)
    if kind is None:
        raise UnsupportedUpload(policy)
    key = new_object_key(key_prefix, kind)
    upload = await storage.presign_put(
        key, content_type=KINDS[kind].content_type, max_bytes=policy.max_bytes, expires_s=expires_s
    )
    return PendingUpload(
        key=key,
        kind=kind,
        url=upload.url,
        method=upload.method,
        headers=upload.headers,
        max_bytes=policy.max_bytes,
        expires_at=upload.expires_at,
    )


async def confirm_presigned_upload(
    storage: Storage,
    key: str,
    *,
    policy: UploadPolicy,
    declared_name: str | None = None,
    tmp_dir: Path | None = None,
) -> StoredObject:
    """Check an object a client uploaded by a presigned URL: there, within the policy's size,
    and by content of the type it was announced as. A failing object is deleted."""
    try:
        info = await storage.stat(key)
    except ObjectNotFound:
        raise UploadNotReceived from None
    try:
        if info.size > policy.max_bytes:
            raise UploadTooLarge(policy.max_bytes)
        if info.size == 0:
            raise EmptyUpload
        head = await (await storage.open(key, (0, HEAD_BYTES - 1))).read()
        sniffed = sniff(head)
        if isinstance(sniffed, FileKind):
            kind = sniffed
        else:  # a container or text: the whole file decides
            received = await receive_upload(await storage.open(key), policy=policy, tmp_dir=tmp_dir)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(received.discard)
            kind = received.kind
        if kind not in policy.kinds or KINDS[kind].content_type != info.content_type:
            raise UnsupportedUpload(policy, "Nội dung tệp không khớp với định dạng đã khai báo.")
    except (UploadTooLarge, EmptyUpload, UnsupportedMediaType):
        with anyio.CancelScope(shield=True):
            await storage.delete(key)
        raise
    return StoredObject(
        key=key,
        size=info.size,
        kind=kind,
        content_type=info.content_type,
        filename=safe_filename(declared_name, kind),
        etag=info.etag,
        sha256=None,
    )
