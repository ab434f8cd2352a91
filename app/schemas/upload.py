"""Upload shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictModel
from app.services.uploads import UploadPurpose

FileName = Annotated[str, Field(min_length=1, max_length=255, examples=["Nghị quyết 57.pdf"])]


class UploadRead(BaseModel):
    id: int
    purpose: UploadPurpose
    status: Literal["pending", "ready"] = Field(
        description="`pending` until a presigned upload is completed; `ready` once checked."
    )
    filename: str = Field(description="The download name (the real type's extension).")
    content_type: str = Field(description="Decided from the content, not from the client.")
    size: int | None = Field(description="Bytes; null while pending.")
    sha256: str | None = Field(description="Of the bytes received (null for presigned uploads).")
    created_at: datetime
    expires_at: datetime = Field(description="Deleted then unless an area has taken it.")
    attached: bool = Field(description="An area (a document, an import …) uses it.")


class PresignedUploadCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purpose": "media",
                    "content_type": "video/mp4",
                    "filename": "Hội nghị quán triệt Nghị quyết 57.mp4",
                }
            ]
        }
    )

    purpose: UploadPurpose
    content_type: str = Field(
        min_length=3, max_length=128, pattern=r"^[a-z]+/[a-z0-9.+-]+$", examples=["video/mp4"]
    )
    filename: FileName | None = None


class PresignedUploadRead(BaseModel):
    """Send the file as the body of `method url` with exactly `headers` before `expires_at`,
    then call `POST /uploads/{id}/complete`."""

    upload: UploadRead
    url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    max_bytes: int
    expires_at: datetime
