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

`content.py` decides types; `intake.py` receives, stores and confirms. One `UploadPolicy` per
purpose (documents, images, imports, media), limits from `UPLOAD__*`.
"""

from __future__ import annotations

from app.services.uploads.content import KINDS, FileKind, KindInfo, safe_filename, sniff
from app.services.uploads.intake import (
    EmptyUpload,
    PendingUpload,
    ReceivedFile,
    StoredObject,
    UnsupportedUpload,
    UploadNotReceived,
    UploadNotUtf8,
    UploadPolicy,
    UploadPurpose,
    UploadTooLarge,
    confirm_presigned_upload,
    new_object_key,
    receive_upload,
    start_presigned_upload,
    store_upload,
    upload_policy,
)

__all__ = [
    "KINDS",
    "EmptyUpload",
    "FileKind",
    "KindInfo",
    "PendingUpload",
    "ReceivedFile",
    "StoredObject",
    "UnsupportedUpload",
    "UploadNotReceived",
    "UploadNotUtf8",
    "UploadPolicy",
    "UploadPurpose",
    "UploadTooLarge",
    "confirm_presigned_upload",
    "new_object_key",
    "receive_upload",
    "safe_filename",
    "sniff",
    "start_presigned_upload",
    "store_upload",
    "upload_policy",
]
