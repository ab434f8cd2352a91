"""The embedded default: objects as files under a directory, and our own signed URLs.

Layout under the root: `data/<key>` (the bytes), `meta/<key>.json` (content type, SHA-256),
`tmp/` (writes in progress, renamed into place once complete and fsynced). Signed URLs are
`{PUBLIC_BASE_URL}/api/v1/files/{token}`; the token is `base64url(json).base64url(hmac)` with the
key, the operation, the expiry (and for uploads the content type and size limit), keyed by a key
derived from `AUTH__SECRET_KEY`, checked in constant time by `LocalStorage.verify_signed_token`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
from pydantic import SecretStr

from app.integrations.storage.base import (
    SIGNED_URL_PATH,
    WRITE_BLOCK_BYTES,
    ByteRange,
    InvalidSignedToken,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    ObjectTooLarge,
    PresignedUpload,
    SignedGrant,
    StorageError,
    as_range,
    utc_now,
    validate_key,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _url_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"handbook/storage-url", hashlib.sha256).digest()


class UrlSigner:
    """Signed, expiring tokens for LocalStorage URLs: `base64url(json).base64url(hmac)`."""

    def __init__(self, secret_key: SecretStr, previous_key: SecretStr | None = None) -> None:
        secret = secret_key.get_secret_value()
        self._usable = bool(secret)
        # Derived, so a token signature is never an access-token signature (same as the OTP key).
        self._key = _url_key(secret)
        # Links signed before a key rotation stay valid until they expire.
        previous = previous_key.get_secret_value() if previous_key is not None else ""
        self._keys = (self._key, _url_key(previous)) if previous else (self._key,)

    def _mac(self, payload: bytes, key: bytes | None = None) -> bytes:
        return hmac.new(key or self._key, payload, hashlib.sha256).digest()

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
            given = _unb64(signature)
            good = any(hmac.compare_digest(given, self._mac(payload, key)) for key in self._keys)
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
        if (now or utc_now()) >= grant.expires_at:
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
        previous_key: SecretStr | None = None,
        get_ttl_s: int = 300,
        put_ttl_s: int = 900,
    ) -> None:
        self.root = root
        self._data = root / "data"
        self._meta = root / "meta"
        self._tmp = root / "tmp"
        self._base_url = public_base_url.rstrip("/")
        self._signer = UrlSigner(secret_key, previous_key)
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
        wanted = as_range(byte_range)

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
        expires_at = utc_now() + timedelta(seconds=expires_s or self._get_ttl_s)
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
        expires_at = utc_now() + timedelta(seconds=expires_s or self._put_ttl_s)
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
