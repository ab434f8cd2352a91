"""The storage contract: keys, byte ranges, object info and streams, signed-URL grants, errors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple, Protocol
from urllib.parse import quote

import anyio
import anyio.to_thread

CHUNK_BYTES = 256 * 1024  # one read of a download stream
WRITE_BLOCK_BYTES = 1024 * 1024  # incoming bytes are written to disk in blocks of this size
SIGNED_URL_PATH = "/api/v1/files"  # where the API serves LocalStorage's signed URLs
MAX_KEY_LENGTH = 512
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,15}}")


class StorageError(Exception):
    """The storage failed or refused an operation."""


class InvalidKey(StorageError, ValueError):
    pass


class ObjectNotFound(StorageError):
    pass


class ObjectTooLarge(StorageError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"object larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class RangeNotSatisfiable(StorageError):
    """The requested range starts past the end of the object (HTTP 416 with `bytes */size`)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for an object of {size} bytes")
        self.size = size


class InvalidSignedToken(StorageError):
    def __init__(self, reason: Literal["invalid", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_key(key: str) -> str:
    """Keys are `/`-separated segments of letters, digits, `.`, `_`, `-`, each starting with a
    letter or digit: no absolute paths, no `..`, no backslashes, no empty segments."""
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
        raise InvalidKey("invalid object key")
    return key


class ByteRange(NamedTuple):
    """One HTTP byte range: `(start, end)` inclusive, `(start, None)` to the end, `(None, n)` the
    last n bytes."""

    start: int | None
    end: int | None

    def resolve(self, size: int) -> tuple[int, int]:
        """The inclusive (first, last) byte for an object of `size` bytes."""
        start, end = self.start, self.end
        if start is None:
            if end is None or end <= 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(size - end, 0), size - 1
        if start >= size or (end is not None and end < start):
            raise RangeNotSatisfiable(size)
        return start, size - 1 if end is None else min(end, size - 1)

    def header(self) -> str:
        if self.start is None:
            return f"bytes=-{self.end}"
        return f"bytes={self.start}-{'' if self.end is None else self.end}"


_RANGE_RE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


def parse_range_header(value: str | None) -> ByteRange | None:
    """A single `Range: bytes=…` header as a ByteRange; None when absent, malformed or a multi-
    range request (RFC 9110 lets a server ignore those and answer 200 with the whole object)."""
    if not value:
        return None
    match = _RANGE_RE.fullmatch(value.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        return ByteRange(None, int(last))
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None
    return ByteRange(start, end)


def as_range(value: ByteRange | tuple[int | None, int | None] | None) -> ByteRange | None:
    if value is None or isinstance(value, ByteRange):
        return value
    return ByteRange(*value)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    etag: str  # opaque, without quotes
    modified_at: datetime


class ObjectStream:
    """An object's bytes (all of them or one range) as an async iterator of chunks.

    `info` describes the whole object; `start`..`end` (inclusive) are the bytes this stream yields.
    Iterating closes the underlying file or connection at the end; call `aclose()` when the stream
    is dropped unread.
    """

    def __init__(
        self,
        info: ObjectInfo,
        start: int,
        end: int,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.info = info
        self.start = start
        self.end = end
        self._read = read
        self._close = close
        self._limiter = limiter
        self._closed = False

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def is_partial(self) -> bool:
        return self.length != self.info.size

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.info.size}"

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            remaining = self.length
            while remaining > 0:
                data = await anyio.to_thread.run_sync(
                    self._read, min(CHUNK_BYTES, remaining), limiter=self._limiter
                )
                if not data:
                    raise StorageError("object ended before the expected length")
                remaining -= len(data)
                yield data
        finally:
            self._close_now()

    async def read(self) -> bytes:
        """All of the stream's bytes (for small objects and tests)."""
        return b"".join([chunk async for chunk in self])

    def _close_now(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    async def aclose(self) -> None:
        self._close_now()


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """What a client needs to upload straight to the storage: send the file as the body of
    `method url` with exactly `headers`, before `expires_at`."""

    url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedGrant:
    """What a LocalStorage signed URL allows: one operation on one key until `expires_at`."""

    key: str
    op: Literal["get", "put"]
    expires_at: datetime
    content_type: str | None = None  # get: the type to answer with; put: the type to require
    max_bytes: int | None = None  # put: the largest body to accept
    filename: str | None = None  # get: the download's file name
    inline: bool = False  # get: show in the browser rather than save


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A Content-Disposition value for any file name (RFC 6266): an ASCII fallback and the
    UTF-8 name (`Nghị quyết 57.pdf` → `filename="Nghi quyet 57.pdf"; filename*=UTF-8''…`)."""
    name = unicodedata.normalize("NFC", filename).replace("\r", " ").replace("\n", " ")
    folded = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    ascii_name = "".join(c for c in folded if c.isascii() and c.isprintable() and c not in '"\\')
    kind = "inline" if inline else "attachment"
    value = f'{kind}; filename="{ascii_name.strip() or "file"}"'
    if ascii_name != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


class Storage(Protocol):
    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        """Store the file at `path` under `key` (replacing any object there). With `move`, the
        file is consumed (renamed when it can be, deleted after upload otherwise)."""
        ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        """Store the bytes as they arrive; `ObjectTooLarge` (and nothing stored) past max_bytes."""
        ...

    async def open(
        self, key: str, byte_range: ByteRange | tuple[int | None, int | None] | None = None
    ) -> ObjectStream:
        """The object's bytes, or one range of them. `ObjectNotFound`, `RangeNotSatisfiable`."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""
        ...

    async def presign_get(
        self,
        key: str,
        *,
        expires_s: int | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        """A URL that downloads the object until it expires, with that file name and type."""
        ...

    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_s: int | None = None
    ) -> PresignedUpload:
        """A URL a client uploads one object to. S3 cannot bound a PUT's size: the upload's
        confirmation (`services.uploads.confirm_presigned_upload`) checks size and type."""
        ...

    async def aclose(self) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)
