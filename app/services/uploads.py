"""Upload intake: receive a file as it streams in, check it, and put it into the storage.

- `receive_upload` writes the incoming bytes to a temporary file under `DATA_DIR/tmp` in blocks
  (never the whole file in memory), counts them and refuses the upload the moment it passes the
  policy's limit (413 `upload.too_large`), computes its SHA-256 and decides its type **by its
  content**: magic numbers (through `filetype`), the parts list of Office zip containers (so a
  .docm renamed .docx, a plain zip or a zip bomb is refused without extracting anything), and for
  CSV a full UTF-8 check. File names and the client's Content-Type are never believed; the name
  only survives as the download name, with the extension of the real type.
- `store_upload` moves the checked file into the storage under a random key and always removes
  the temporary file.
- Large media skip the API: `start_presigned_upload` hands the client a presigned PUT, and
  `confirm_presigned_upload` checks the object that arrived (size, type by content) and deletes
  it when it is not what the policy accepts.

One `UploadPolicy` per purpose (documents, images, imports, media), limits from `UPLOAD__*`.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import logging
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final, NoReturn

import anyio
import anyio.to_thread
from filetype.types import archive, audio, image, video  # type: ignore[import-untyped]

from app.core.config import UploadSettings
from app.core.errors import ContentTooLarge, NotFound, Unprocessable, UnsupportedMediaType
from app.integrations.storage import ObjectNotFound, Storage, validate_key

log = logging.getLogger("app.uploads")

MiB: Final = 1024 * 1024
HEAD_BYTES: Final = 8192  # what the type is decided from (filetype reads the same)
WRITE_BLOCK_BYTES: Final = MiB  # incoming bytes are written and hashed in blocks of this size
MAX_TEXT_LINE: Final = 64 * 1024  # characters in one line of a CSV or text file
# Office files are zip archives: bounds on what a reader (openpyxl, the text extractor) would have
# to inflate, checked from the archive's directory before anything is extracted.
ZIP_MAX_MEMBERS: Final = 10_000
ZIP_MAX_UNCOMPRESSED: Final = 512 * MiB
ZIP_MAX_RATIO: Final = 200  # uncompressed / compressed, for members above 1 MiB
ZIP_MAX_CONTENT_TYPES: Final = MiB


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    PPTX = "pptx"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    MP3 = "mp3"
    M4A = "m4a"
    AAC = "aac"
    MP4 = "mp4"
    CSV = "csv"
    TEXT = "txt"


@dataclass(frozen=True, slots=True)
class KindInfo:
    content_type: str
    extension: str
    label: str  # how the accepted types are named to people
    aliases: tuple[str, ...] = ()  # other content types clients send for it


KINDS: Final[dict[FileKind, KindInfo]] = {
    FileKind.PDF: KindInfo("application/pdf", "pdf", "PDF"),
    FileKind.DOCX: KindInfo(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        "Word (.docx)",
    ),
    FileKind.XLSX: KindInfo(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "Excel (.xlsx)"
    ),
    FileKind.PPTX: KindInfo(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
        "PowerPoint (.pptx)",
    ),
    FileKind.JPEG: KindInfo("image/jpeg", "jpg", "JPEG", ("image/jpg", "image/pjpeg")),
    FileKind.PNG: KindInfo("image/png", "png", "PNG"),
    FileKind.WEBP: KindInfo("image/webp", "webp", "WebP"),
    FileKind.GIF: KindInfo("image/gif", "gif", "GIF"),
    FileKind.MP3: KindInfo("audio/mpeg", "mp3", "MP3", ("audio/mp3", "audio/mpeg3")),
    FileKind.M4A: KindInfo("audio/mp4", "m4a", "M4A", ("audio/x-m4a", "audio/m4a")),
    FileKind.AAC: KindInfo("audio/aac", "aac", "AAC", ("audio/x-aac", "audio/aacp")),
    FileKind.MP4: KindInfo("video/mp4", "mp4", "MP4"),
    FileKind.CSV: KindInfo(
        "text/csv", "csv", "CSV (UTF-8)", ("application/csv", "text/comma-separated-values")
    ),
    FileKind.TEXT: KindInfo("text/plain", "txt", "văn bản thuần (UTF-8)"),
}


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


# Type by content --------------------------------------------------------------------------------

_ZIP = "zip"
# Order matters: M4A before MP4 (an M4A also lists the generic MP4 brands).
_MATCHERS: Final[tuple[tuple[Any, FileKind | str], ...]] = (
    (archive.Pdf(), FileKind.PDF),
    (image.Jpeg(), FileKind.JPEG),
    (image.Png(), FileKind.PNG),
    (image.Webp(), FileKind.WEBP),
    (image.Gif(), FileKind.GIF),
    (audio.M4a(), FileKind.M4A),
    (audio.Mp3(), FileKind.MP3),
    (audio.Aac(), FileKind.AAC),
    (video.Mp4(), FileKind.MP4),
    (archive.Zip(), _ZIP),
)
_OFFICE_KINDS: Final = frozenset({FileKind.DOCX, FileKind.XLSX, FileKind.PPTX})
_TEXT_KINDS: Final = frozenset({FileKind.CSV, FileKind.TEXT})


def sniff(head: bytes) -> FileKind | str | None:
    """The kind the first bytes announce (`"zip"` for a zip container), or None."""
    buf = bytearray(head[:HEAD_BYTES])
    for matcher, kind in _MATCHERS:
        with contextlib.suppress(IndexError, ValueError):  # some matchers index short input
            if matcher.match(buf):
                return kind
    return None


# The main part of each Office format, by its content type in [Content_Types].xml.
_OFFICE_MAIN: Final[dict[str, FileKind | None]] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": (
        FileKind.DOCX
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": FileKind.XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": (
        FileKind.PPTX
    ),
    # Macro-enabled, binary and template variants: refused.
    "application/vnd.ms-word.document.macroenabled.main+xml": None,
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": None,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": None,
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": None,
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": None,
    "application/vnd.ms-excel.template.macroenabled.main+xml": None,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": None,
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": None,
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": None,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": None,
}
_MACRO_MARKERS: Final = ("vbaproject", "macroenabled", "vbadata", "activex")
_ELEMENT_RE = re.compile(rb"<(?:\w+:)?(Override|Default)\b([^>]*)>")
_ATTR_RE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class _Refused(Exception):
    """An Office container that must not be accepted, with the reason to tell the person."""


def inspect_office_zip(path: Path) -> FileKind:
    """DOCX, XLSX or PPTX from the zip's directory and its [Content_Types].xml, without
    extracting anything but that one small part; `_Refused` for anything else."""
    try:
        with zipfile.ZipFile(path) as archive_file:
            members = archive_file.infolist()
            if len(members) > ZIP_MAX_MEMBERS:
                raise _Refused("Tệp nén có quá nhiều thành phần.")
            if sum(m.file_size for m in members) > ZIP_MAX_UNCOMPRESSED or any(
                m.file_size > MiB and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1)
                for m in members
            ):
                raise _Refused("Tệp có dấu hiệu là bom nén (zip bomb).")
            names = {m.filename for m in members}
            if any(marker in name.lower() for name in names for marker in _MACRO_MARKERS):
                raise _Refused("Tệp chứa macro hoặc điều khiển ActiveX.")
            try:
                types_member = archive_file.getinfo("[Content_Types].xml")
            except KeyError:
                raise _Refused("Tệp nén (.zip) không phải tài liệu Office.") from None
            if types_member.file_size > ZIP_MAX_CONTENT_TYPES:
                raise _Refused("Tệp Office không hợp lệ.")
            content_types = archive_file.read(types_member)
    except _Refused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise _Refused("Tệp Office bị hỏng hoặc được mã hóa.") from exc
    except (OSError, EOFError, ValueError) as exc:
        raise _Refused("Tệp Office bị hỏng.") from exc
    return _office_kind(content_types, names)


def _office_kind(content_types: bytes, names: set[str]) -> FileKind:
    found: set[FileKind] = set()
    for element, raw_attrs in _ELEMENT_RE.findall(content_types):
        attrs = {
            name.decode().lower(): (double or single).decode(errors="replace")
            for name, double, single in _ATTR_RE.findall(raw_attrs)
        }
        content_type = attrs.get("contenttype", "").strip().lower()
        if any(marker in content_type for marker in _MACRO_MARKERS):
            raise _Refused("Tệp chứa macro (ví dụ .docm, .xlsm).")
        if element != b"Override" or content_type not in _OFFICE_MAIN:
            continue
        kind = _OFFICE_MAIN[content_type]
        if kind is None:
            raise _Refused("Tệp Office có macro hoặc là tệp mẫu (.docm, .xlsm, .dotx…).")
        if attrs.get("partname", "").lstrip("/") in names:
            found.add(kind)
    if len(found) != 1:
        raise _Refused("Tệp nén (.zip) không phải tài liệu Office hợp lệ.")
    return found.pop()


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_LEGACY_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class _TextScan:
    """Follows the bytes of a would-be text file: valid UTF-8 (a BOM allowed), no NUL or other
    control characters than tab, CR, LF and form feed, lines of reasonable length."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.utf8 = True
        self.textual = True
        self.longest = 0  # characters in the longest line so far
        self._line = 0  # characters in the current line so far
        self._first: list[str] = []  # the first line, while it is being read
        self._first_done = False

    @property
    def active(self) -> bool:
        return self.utf8 and self.textual and self.longest <= MAX_TEXT_LINE

    def feed(self, block: bytes, *, final: bool = False) -> None:
        if not self.active:
            return
        try:
            text = self._decoder.decode(block, final)
        except UnicodeDecodeError:
            self.utf8 = False
            return
        if _CONTROL_RE.search(text):
            self.textual = False
            return
        lines = text.split("\n")
        if not self._first_done:
            self._first.append(lines[0])
            self._first_done = len(lines) > 1
        self.longest = max(self.longest, self._line + len(lines[0]), *map(len, lines[1:]))
        self._line = len(lines[-1]) if len(lines) > 1 else self._line + len(lines[0])

    def kind(self) -> FileKind | None:
        if not self.active:
            return None
        first = "".join(self._first).strip()
        return FileKind.CSV if first and any(sep in first for sep in ",;\t") else FileKind.TEXT


def _looks_like_legacy_text(head: bytes) -> bool:
    """Not UTF-8 but plainly text in an 8-bit code page (a Windows-1258 CSV from old Excel)."""
    return bool(head) and not _LEGACY_CONTROL_RE.search(head) and any(b >= 0x80 for b in head)


def safe_filename(declared: str | None, kind: FileKind) -> str:
    """The declared name, without folders or control characters, with the real type's extension
    (`../../Nghị quyết.exe` for a PDF → `Nghị quyết.pdf`)."""
    name = unicodedata.normalize("NFC", declared or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem.strip(" .")[:120].strip(" .") or "tep"
    return f"{stem}.{KINDS[kind].extension}"


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
        self.text = _TextScan()
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
    if sniffed == _ZIP and not (policy.kinds & _OFFICE_KINDS):
        raise UnsupportedUpload(policy)
    if sniffed is None and not (policy.kinds & _TEXT_KINDS):
        raise UnsupportedUpload(policy)


def _refuse_text(scan: _TextScan, head: bytes, policy: UploadPolicy) -> NoReturn:
    if not scan.utf8 and FileKind.CSV in policy.kinds and _looks_like_legacy_text(head):
        raise UploadNotUtf8
    raise UnsupportedUpload(policy)


async def _decide(spool: _Spool, received: _Received, policy: UploadPolicy) -> FileKind:
    kind: FileKind | None
    if received.sniffed == _ZIP:
        try:
            kind = await anyio.to_thread.run_sync(inspect_office_zip, spool.path)
        except _Refused as refused:
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
