"""Object storage: a Protocol, the local directory default and S3-compatible object storage.

Objects are addressed by opaque keys (`documents/2025/3f2a….pdf`) that the services choose;
clients never see a path that could be guessed. Reads come back as an `ObjectStream` (an async
byte iterator, optionally one byte range for HTTP `Range`), and downloads or large uploads can go
by short-lived signed URLs.

- `base.py`: the `Storage` Protocol and what it speaks (keys, `ByteRange`, `ObjectInfo`,
  `ObjectStream`, `PresignedUpload`, `SignedGrant`, errors, `content_disposition`).
- `local.py`: `LocalStorage`, the embedded default: files under `DATA_DIR/storage`, written
  atomically, with our own HMAC-signed, expiring URLs under `PUBLIC_BASE_URL` that the files route
  checks with `LocalStorage.verify_signed_token`.
- `s3.py`: `S3Storage`, any S3-compatible service through boto3 in bounded threads: multipart
  uploads, ranged reads, S3's own presigned URLs.

Keys, secrets and signed URLs never reach the log.
"""

from __future__ import annotations

from app.core.config import Settings
from app.integrations.storage.base import (
    CHUNK_BYTES,
    SIGNED_URL_PATH,
    ByteRange,
    InvalidKey,
    InvalidSignedToken,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    ObjectTooLarge,
    PresignedUpload,
    RangeNotSatisfiable,
    SignedGrant,
    Storage,
    StorageError,
    content_disposition,
    parse_range_header,
    validate_key,
)
from app.integrations.storage.local import LocalStorage, UrlSigner
from app.integrations.storage.s3 import S3Storage

__all__ = [
    "CHUNK_BYTES",
    "SIGNED_URL_PATH",
    "ByteRange",
    "InvalidKey",
    "InvalidSignedToken",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStream",
    "ObjectTooLarge",
    "PresignedUpload",
    "RangeNotSatisfiable",
    "S3Storage",
    "SignedGrant",
    "Storage",
    "StorageError",
    "UrlSigner",
    "build_storage",
    "content_disposition",
    "parse_range_header",
    "validate_key",
]


def build_storage(settings: Settings) -> Storage:
    if settings.storage.backend == "s3":
        return S3Storage(settings.storage)
    return LocalStorage(
        settings.storage_dir,
        public_base_url=settings.public_base_url,
        secret_key=settings.auth.secret_key,
        previous_key=settings.auth.previous_secret_key,
        get_ttl_s=settings.storage.presign_get_ttl_s,
        put_ttl_s=settings.storage.presign_put_ttl_s,
    )
