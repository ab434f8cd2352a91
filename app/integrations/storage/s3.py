"""S3-compatible object storage (AWS S3, MinIO, Ceph, the Vietnamese clouds' S3 services) via boto3.

boto3 is synchronous: every call runs in a worker thread under a bounded limiter
(`STORAGE__S3_MAX_THREADS`). Files above the threshold go up by boto3's managed multipart
transfer; streams go up part by part as they fill (one part in memory at most); reads are ranged
GETs streamed chunk by chunk; presigned URLs are S3's own (SigV4).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import AsyncIterable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from app.core.config import StorageSettings
from app.integrations.storage.base import (
    ByteRange,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    ObjectTooLarge,
    PresignedUpload,
    RangeNotSatisfiable,
    StorageError,
    as_range,
    content_disposition,
    utc_now,
    validate_key,
)

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

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
            modified_at=head.get("LastModified") or utc_now(),
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
        wanted = as_range(byte_range)

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
        expires_at = utc_now() + timedelta(seconds=expires)
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
