"""Roles held on orgs. A role on an org covers its whole subtree; revoking keeps the history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class Role(StrEnum):
    SECRETARY = "secretary"  # bí thư
    DEPUTY_SECRETARY = "deputy_secretary"  # phó bí thư
    COMMITTEE_MEMBER = "committee_member"  # chi ủy viên / cấp ủy viên
    ORGANISATION_OFFICER = "organisation_officer"  # cán bộ Ban Tổ chức
    EDITOR = "editor"  # biên tập viên (Ban Tuyên giáo)
    APPROVER = "approver"  # người duyệt tin bài
    DEPLOYMENT_ADMIN = "deployment_admin"  # quản trị hệ thống


class RoleGrant(Base):
    __tablename__ = "role_grant"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))

    __table_args__ = (
        Index(
            "uq_role_grant_active",
            "member_id",
            "org_id",
            "role",
            unique=True,
            sqlite_where=revoked_at.is_(None),
            postgresql_where=revoked_at.is_(None),
        ),
        Index("ix_role_grant_org_id", "org_id", "id"),
    )
