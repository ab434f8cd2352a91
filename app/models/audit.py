"""The audit log: an append-only record of administrative and security actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

# JSONB on PostgreSQL, JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class AuditEvent(Base):
    """Who did what to which object, when, from which request, and on whose behalf.

    Rows are only ever inserted. `org_id` is the org the action belongs to (the member's
    branch, the org of a role grant, the root for deployment settings): officers read the log
    of their subtree through it. `changes` holds `{field: [before, after]}` for edits, never a
    secret (password hashes, tokens and codes are not audit material).
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Null for the system itself (a job) or an operator at the command line (`detail.via`).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    # The member a proxy action was done for (a secretary checking in an elderly member).
    on_behalf_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_org_id", "org_id", "id"),
        Index("ix_audit_event_actor_id", "actor_id", "id"),
        Index("ix_audit_event_target", "target_type", "target_id", "id"),
    )
