"""Object storage: a Protocol, the local directory default and S3-compatible object storage.

Objects are addressed by opaque keys (`documents/2025/3f2a….pdf`) that the services choose;
clients never see a path that could be guessed. Reads come back as an `ObjectStream` (an async
byte iterator, optionally one byte range for HTTP `Range`), and downloads or large uploads can go
by short-lived signed URLs:

- `LocalStorage` (the embedded default): files under `DATA_DIR/storage`, written atomically
  (temporary file, fsync, rename) with a small JSON sidecar for the content type and SHA-256. Its
  signed URLs are our own: `{PUBLIC_BASE_URL}/api/v1/files/{token}`, where the token carries the
  key, the operation, the expiry (and for uploads the content type and the size limit) and an
  HMAC-SHA256 keyed by a key derived from `AUTH__SECRET_KEY`. The files route checks it with
  `LocalStorage.verify_signed_token`.
- `S3Storage`: any S3-compatible service through boto3. boto3 is synchronous, so every call runs
  in a worker thread under a bounded limiter; big files go up in parts (boto3's managed transfer
  for files, our own multipart for streams, so neither is ever held whole in memory); presigned
  URLs are S3's own (SigV4).

Keys, secrets and signed URLs never reach the log.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import threading
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol
from urllib.parse import quote

import anyio
import anyio.to_thread
import boto3
import orjson
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import SecretStr

from app.core.config import Settings, StorageSettings

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

log = logging.getLogger("app.storage")

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


def _as_range(value: ByteRange | tuple[int | None, int | None] | None) -> ByteRange | None:
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UrlSigner:
    """Signed, expiring tokens for LocalStorage URLs: `base64url(json).base64url(hmac)`."""

    def __init__(self, secret_key: SecretStr) -> None:
        secret = secret_key.get_secret_value()
        self._usable = bool(secret)
        # Derived, so a token signature is never an access-token signature (same as the OTP key).
        self._key = hmac.new(secret.encode(), b"handbook/storage-url", hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def sign(self, grant: SignedGrant) -> str:
        if not self._usable:
            raise StorageError("signed URLs need AUTH__SECRET_KEY")
        claims: dict[str, Any] = {
            "k": grant.key,
            "op": grant.op,
            "exp": int(grant.expires_at.timestamp()),
            # A random nonce: two links to the same file at the same second still differ.
            "n": secrets.token_urlsafe(6),
        }
        for name, value in (
            ("ct", grant.content_type),
            ("max", grant.max_bytes),
            ("fn", grant.filename),
        ):
            if value is not None:
                claims[name] = value
        if grant.inline:
            claims["inl"] = 1
        payload = orjson.dumps(claims)
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, *, now: datetime | None = None) -> SignedGrant:
        try:
            encoded, signature = token.split(".")
            payload = _unb64(encoded)
            good = hmac.compare_digest(_unb64(signature), self._mac(payload))
        except ValueError:  # wrong shape or bad base64 (binascii.Error is a ValueError)
            raise InvalidSignedToken("invalid") from None
        if not good or not self._usable:
            raise InvalidSignedToken("invalid")
        try:
            claims = orjson.loads(payload)
            grant = SignedGrant(
                key=validate_key(claims["k"]),
                op=claims["op"],
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                content_type=claims.get("ct"),
                max_bytes=claims.get("max"),
                filename=claims.get("fn"),
                inline=bool(claims.get("inl")),
            )
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise InvalidSignedToken("invalid") from exc
        if grant.op not in ("get", "put"):
            raise InvalidSignedToken("invalid")
        if (now or _utc_now()) >= grant.expires_at:
            raise InvalidSignedToken("expired")
        return grant


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LocalStorage:
    """Objects as files under `root`: `data/<key>`, with `meta/<key>.json` beside them."""

    def __init__(
        self,
        root: Path,
        *,
        public_base_url: str,
        secret_key: SecretStr,
        get_ttl_s: int = 300,
        put_ttl_s: int = 900,
    ) -> None:
        self.root = root
        self._data = root / "data"
        self._meta = root / "meta"
        self._tmp = root / "tmp"
        self._base_url = public_base_url.rstrip("/")
        self._signer = UrlSigner(secret_key)
        self._get_ttl_s = get_ttl_s
        self._put_ttl_s = put_ttl_s

    # Paths ---------------------------------------------------------------------------------

    def _data_path(self, key: str) -> Path:
        return self._data / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._meta / f"{validate_key(key)}.json"

    def _temp_file(self) -> tuple[int, Path]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".part")
        return fd, Path(name)

    def _commit(self, key: str, temp: Path, *, content_type: str, sha256: str) -> ObjectInfo:
        """Publish a fully written, fsynced temporary file as `key` (atomically)."""
        target, meta = self._data_path(key), self._meta_path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta_fd, meta_temp = self._temp_file()
            with os.fdopen(meta_fd, "wb") as file:
                file.write(orjson.dumps({"content_type": content_type, "sha256": sha256}))
                file.flush()
                os.fsync(file.fileno())
            os.replace(meta_temp, meta)
            os.replace(temp, target)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            temp.unlink(missing_ok=True)
            raise StorageError("the key conflicts with another object's key") from exc
        _fsync_dir(target.parent)
        return self._stat(key)

    # Writes --------------------------------------------------------------------------------

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        validate_key(key)
        return await anyio.to_thread.run_sync(self._put_file, key, path, content_type, sha256, move)

    def _put_file(
        self, key: str, path: Path, content_type: str, sha256: str | None, move: bool
    ) -> ObjectInfo:
        if move and sha256 is not None:
            self._tmp.mkdir(parents=True, exist_ok=True)
            temp = self._tmp / f"move-{secrets.token_hex(8)}"
            try:
                os.replace(path, temp)  # O(1) when the upload was spooled on this filesystem
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            else:
                with open(temp, "rb") as file:
                    os.fsync(file.fileno())
                return self._commit(key, temp, content_type=content_type, sha256=sha256)
        fd, temp = self._temp_file()
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
                while block := source.read(WRITE_BLOCK_BYTES):
                    digest.update(block)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        info = self._commit(key, temp, content_type=content_type, sha256=digest.hexdigest())
        if move:
            path.unlink(missing_ok=True)
        return info

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        validate_key(key)
        fd, temp = await anyio.to_thread.run_sync(self._temp_file)
        out = os.fdopen(fd, "wb")
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()

        def write(block: bytes) -> None:
            digest.update(block)
            out.write(block)

        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge(max_bytes)
                buffer += chunk
                if len(buffer) >= WRITE_BLOCK_BYTES:
                    block, buffer = bytes(buffer), bytearray()
                    await anyio.to_thread.run_sync(write, block)
            await anyio.to_thread.run_sync(write, bytes(buffer))

            def finish() -> ObjectInfo:
                out.flush()
                os.fsync(out.fileno())
                out.close()
                return self._commit(key, temp, content_type=content_type, sha256=digest.hexdigest())

            return await anyio.to_thread.run_sync(finish)
        finally:
            out.close()
            temp.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        def remove() -> None:
            self._data_path(key).unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)

        await anyio.to_thread.run_sync(remove)

    # Reads ---------------------------------------------------------------------------------

    def _stat(self, key: str) -> ObjectInfo:
        path = self._data_path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not path.is_file():
            raise ObjectNotFound(key)
        try:
            meta = orjson.loads(self._meta_path(key).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            meta = {}
        return ObjectInfo(
            key=key,
            size=st.st_size,
            content_type=str(meta.get("content_type") or "application/octet-stream"),
            etag=str(meta.get("sha256") or f"{st.st_size:x}-{st.st_mtime_ns:x}"),
            modified_at=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    async def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        return await anyio.to_thread.run_sync(self._stat, key)

    async def open(
        self, key: str, byte_range: ByteRange | tuple[int | None, int | None] | None = None
    ) -> ObjectStream:
        validate_key(key)
        wanted = _as_range(byte_range)

        def open_file() -> ObjectStream:
            info = self._stat(key)
            start, end = wanted.resolve(info.size) if wanted else (0, info.size - 1)
            try:
                file = open(self._data_path(key), "rb")  # noqa: SIM115 - closed by the stream
            except FileNotFoundError:
                raise ObjectNotFound(key) from None
            file.seek(start)
            return ObjectStream(info, start, end, file.read, file.close)

        return await anyio.to_thread.run_sync(open_file)

    # Signed URLs -----------------------------------------------------------------------------

    def _url(self, grant: SignedGrant) -> str:
        return f"{self._base_url}{SIGNED_URL_PATH}/{self._signer.sign(grant)}"

    async def presign_get(
        self,
        key: str,
        *,
        expires_s: int | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        expires_at = _utc_now() + timedelta(seconds=expires_s or self._get_ttl_s)
        grant = SignedGrant(
            key=validate_key(key),
            op="get",
            expires_at=expires_at,
            content_type=content_type,
            filename=filename,
            inline=inline,
        )
        return self._url(grant)

    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_s: int | None = None
    ) -> PresignedUpload:
        expires_at = _utc_now() + timedelta(seconds=expires_s or self._put_ttl_s)
        grant = SignedGrant(
            key=validate_key(key),
            op="put",
            expires_at=expires_at,
            content_type=content_type,
            max_bytes=max_bytes,
        )
        return PresignedUpload(
            url=self._url(grant),
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=expires_at,
        )

    def verify_signed_token(self, token: str, *, now: datetime | None = None) -> SignedGrant:
        """The grant a token from one of this storage's signed URLs carries, or
        `InvalidSignedToken` ("invalid" for a forged or mangled token, "expired")."""
        return self._signer.verify(token, now=now)

    async def aclose(self) -> None:
        return None


_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_SESSION_LOCK = threading.Lock()


@functools.cache
def _boto_session() -> boto3.session.Session:
    """One boto3 session per process: loading the S3 model costs ~0.2 s, a client from a loaded
    session ~20 ms. Sessions are not thread-safe, so clients are made under a lock."""
    return boto3.session.Session()


class S3Storage:
    """S3-compatible object storage through boto3, each call in a thread under a bounded limiter."""

    def __init__(self, settings: StorageSettings) -> None:
        if not settings.s3_bucket:
            raise StorageError("STORAGE__S3_BUCKET is not set")
        self._bucket = settings.s3_bucket
        self._part_bytes = settings.s3_part_size_mb * 1024 * 1024
        self._get_ttl_s = settings.presign_get_ttl_s
        self._put_ttl_s = settings.presign_put_ttl_s
        self._limiter = anyio.CapacityLimiter(settings.s3_max_threads)
        self._transfer = TransferConfig(
            multipart_threshold=settings.s3_multipart_threshold_mb * 1024 * 1024,
            multipart_chunksize=self._part_bytes,
            max_concurrency=4,
        )
        self._client = self._make_client(settings, settings.s3_endpoint_url)
        presign_url = settings.s3_presign_endpoint_url
        # SigV4 signs the host: links for clients are made for the address they reach.
        self._presigner = (
            self._make_client(settings, presign_url)
            if presign_url and presign_url != settings.s3_endpoint_url
            else self._client
        )

    @staticmethod
    def _make_client(settings: StorageSettings, endpoint_url: str) -> S3Client:
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.s3_addressing_style},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=min(settings.s3_timeout_s, 10.0),
            read_timeout=settings.s3_timeout_s,
            max_pool_connections=max(10, settings.s3_max_threads * 2),
            # Only the checksums S3 requires: many S3-compatible services reject the newer
            # default CRC headers of recent boto3 versions.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        secret = settings.s3_secret_access_key.get_secret_value()
        with _SESSION_LOCK:
            return _boto_session().client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=settings.s3_region,
                aws_access_key_id=settings.s3_access_key_id or None,
                aws_secret_access_key=secret or None,
                config=config,
            )

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)

    def _info(self, key: str, head: Any) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or "application/octet-stream"),
            etag=str(head.get("ETag", "")).strip('"'),
            modified_at=head.get("LastModified") or _utc_now(),
        )

    def _head(self, key: str) -> ObjectInfo:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            raise StorageError(f"head failed: {_error_code(exc)}") from exc
        return self._info(key, head)

    async def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        info: ObjectInfo = await self._run(self._head, key)
        return info

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        validate_key(key)
        extra: dict[str, Any] = {"ContentType": content_type}
        if sha256:
            extra["Metadata"] = {"sha256": sha256}

        def upload() -> ObjectInfo:
            # Multipart above the threshold, parts sent by s3transfer's own small thread pool.
            self._client.upload_file(
                str(path), self._bucket, key, ExtraArgs=extra, Config=self._transfer
            )
            if move:
                path.unlink(missing_ok=True)
            return self._head(key)

        try:
            info: ObjectInfo = await self._run(upload)
        except ClientError as exc:
            raise StorageError(f"upload failed: {_error_code(exc)}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("boto3", "s3transfer", "botocore")):
                raise StorageError(f"upload failed: {type(exc).__name__}") from exc
            raise
        return info

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> ObjectInfo:
        """Parts of `s3_part_size_mb` go up as they fill (at most one part in memory); a stream
        shorter than one part is one PUT."""
        validate_key(key)
        client, bucket, part_bytes = self._client, self._bucket, self._part_bytes
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        size = 0

        async def send_part(body: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = await self._run(
                    lambda: client.create_multipart_upload(
                        Bucket=bucket, Key=key, ContentType=content_type
                    )
                )
                upload_id = str(created["UploadId"])
            number = len(parts) + 1
            uploaded = await self._run(
                lambda: client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
            )
            parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})

        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge(max_bytes)
                buffer += chunk
                while len(buffer) >= part_bytes:
                    body = bytes(buffer[:part_bytes])
                    del buffer[:part_bytes]
                    await send_part(body)
            if upload_id is None:
                body = bytes(buffer)
                await self._run(
                    lambda: client.put_object(
                        Bucket=bucket, Key=key, Body=body, ContentType=content_type
                    )
                )
            else:
                if buffer:
                    await send_part(bytes(buffer))
                done_id = upload_id
                await self._run(
                    lambda: client.complete_multipart_upload(
                        Bucket=bucket,
                        Key=key,
                        UploadId=done_id,
                        MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                    )
                )
        except BaseException as exc:
            if upload_id is not None:
                aborted = upload_id
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await self._run(
                        lambda: client.abort_multipart_upload(
                            Bucket=bucket, Key=key, UploadId=aborted
                        )
                    )
            if isinstance(exc, ClientError):
                raise StorageError(f"upload failed: {_error_code(exc)}") from exc
            raise
        return await self.stat(key)

    async def open(
        self, key: str, byte_range: ByteRange | tuple[int | None, int | None] | None = None
    ) -> ObjectStream:
        validate_key(key)
        wanted = _as_range(byte_range)

        def get() -> ObjectStream:
            params: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
            if wanted is not None:
                start, end = wanted
                if (start is None and (end or 0) <= 0) or (
                    start is not None and end is not None and end < start
                ):
                    raise RangeNotSatisfiable(self._head(key).size)
                params["Range"] = wanted.header()
            try:
                response = self._client.get_object(**params)
            except ClientError as exc:
                code = _error_code(exc)
                if code in _NOT_FOUND_CODES:
                    raise ObjectNotFound(key) from None
                if code == "InvalidRange":
                    actual = str(exc.response.get("Error", {}).get("ActualObjectSize", ""))
                    size = int(actual) if actual.isdigit() else self._head(key).size
                    raise RangeNotSatisfiable(size) from None
                raise StorageError(f"get failed: {code}") from exc
            length = int(response["ContentLength"])
            match = _CONTENT_RANGE_RE.fullmatch(str(response.get("ContentRange") or ""))
            if match:
                start, end, size = (int(g) for g in match.groups())
            else:
                start, end, size = 0, length - 1, length
            info = self._info(key, {**response, "ContentLength": size})
            body = response["Body"]
            return ObjectStream(info, start, end, body.read, body.close, self._limiter)

        stream: ObjectStream = await self._run(get)
        return stream

    async def delete(self, key: str) -> None:
        validate_key(key)
        try:
            await self._run(lambda: self._client.delete_object(Bucket=self._bucket, Key=key))
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND_CODES:
                raise StorageError(f"delete failed: {_error_code(exc)}") from exc

    async def presign_get(
        self,
        key: str,
        *,
        expires_s: int | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": validate_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename, inline=inline)
        if content_type:
            params["ResponseContentType"] = content_type
        expires = expires_s or self._get_ttl_s
        url: str = await self._run(
            lambda: self._presigner.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires
            )
        )
        return url

    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_s: int | None = None
    ) -> PresignedUpload:
        del max_bytes  # S3 cannot bound a PUT's size; the upload's confirmation checks it
        params = {"Bucket": self._bucket, "Key": validate_key(key), "ContentType": content_type}
        expires = expires_s or self._put_ttl_s
        expires_at = _utc_now() + timedelta(seconds=expires)
        url: str = await self._run(
            lambda: self._presigner.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=expires
            )
        )
        return PresignedUpload(
            url=url, method="PUT", headers={"Content-Type": content_type}, expires_at=expires_at
        )

    async def aclose(self) -> None:
        def close() -> None:
            self._client.close()
            if self._presigner is not self._client:
                self._presigner.close()

        await anyio.to_thread.run_sync(close)


def build_storage(settings: Settings) -> Storage:
    if settings.storage.backend == "s3":
        return S3Storage(settings.storage)
    return LocalStorage(
        settings.storage_dir,
        public_base_url=settings.public_base_url,
        secret_key=settings.auth.secret_key,
        get_ttl_s=settings.storage.presign_get_ttl_s,
        put_ttl_s=settings.storage.presign_put_ttl_s,
    )
