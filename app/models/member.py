"""Party members (đảng viên): one row per person, who is also the account that logs in."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, ByteText, TimestampMixin, UTCDateTime


class MemberStatus(StrEnum):
    FULL = "full"  # đảng viên chính thức
    PROBATIONARY = "probationary"  # đảng viên dự bị: does not vote


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Member(TimestampMixin, Base):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    # Copy of the branch's path, so "members of a subtree" is one range scan.
    org_path: Mapped[str] = mapped_column(ByteText(512))
    full_name: Mapped[str] = mapped_column(String(255))
    name_folded: Mapped[str] = mapped_column(String(255))
    # Given name, family name, middle names, folded: the Vietnamese list order.
    sort_key: Mapped[str] = mapped_column(ByteText(255))
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    party_card_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.FULL)
    is_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    exempt_since: Mapped[date | None] = mapped_column(Date)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(8))
    joined_date: Mapped[date | None] = mapped_column(Date)
    official_date: Mapped[date | None] = mapped_column(Date)
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Archived (left, deceased, expelled, moved out): kept for history, never deleted, in no
    # membership period from this day on, and unable to log in.
    archived_on: Mapped[date | None] = mapped_column(Date)
    archive_reason: Mapped[str | None] = mapped_column(String(16))
    # Row version: bumped by every ORM update, exposed as the ETag (`If-Match` on edits).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration

    __table_args__ = (
        Index("ix_member_branch_id_sort_key", "branch_id", "sort_key", "id"),
        Index("ix_member_org_path_sort_key", "org_path", "sort_key", "id"),
        Index("ix_member_sort_key", "sort_key", "id"),
        # A ward's (1) or grassroots committee's (2) members in name order, on PostgreSQL: see
        # `access.unit_key` (the expression is spelled out: the index must match it exactly).
        *(
            Index(
                f"ix_member_unit{depth}_sort_key",
                text(f"split_part(org_path, '/', {depth + 2})"),
                "sort_key",
                "id",
                postgresql_where=text("archived_on IS NULL"),
                info={"dialects": ("postgresql",)},
            ).ddl_if(dialect="postgresql")
            for depth in (1, 2)
        ),
        Index(
            "ix_member_name_folded_trgm",
            "name_folded",
            postgresql_using="gin",
            postgresql_ops={"name_folded": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
    )
