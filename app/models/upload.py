"""Uploaded files waiting to be used: the staging area every area attaches files from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class Upload(Base):
    """A file a member uploaded, checked by content and kept in the storage under `storage_key`.

    `pending` while a presigned upload is on its way to the object storage, `ready` once its
    bytes are checked. An area that uses it (a document's attachment, an import) sets
    `attached_at`; an upload left unattached past `expires_at` is deleted with its object.
    """

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_upload_member_id", "member_id", "id"),
        Index("ix_upload_expires_at", "expires_at"),
    )
