"""Idempotency keys: the first response to a retried write, kept for 24 hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime


class IdempotencyKey(Base):
    """A client's `Idempotency-Key` for one write, scoped to the member who sent it.

    Claimed (`in_flight`) as the first statement of the write's own transaction and `done` with
    the response before its commit, so a committed row is `done` (a duplicate meanwhile waits on
    the unique key, then replays it). A committed `in_flight` row comes only from an earlier
    release, which committed its claim apart: 409 until `locked_until` passes, then it was
    abandoned and may be taken over.
    """

    __tablename__ = "idempotency_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("member_id", "key"),
        Index("ix_idempotency_key_expires_at", "expires_at"),
    )
