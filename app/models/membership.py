"""Membership over time: which branch a member belonged to, with what status and exemption,
from when to when; and where each org sat in the tree over time.

Periods are half-open date ranges `[valid_from, valid_to)` in the deployment's local calendar.
A null `valid_from` means "since before the deployment kept history" (rows backfilled when this
table was created, and rows of members added by bulk loads); a null `valid_to` means "still
true". Every change of branch, status or exemption closes the open period on the day it takes
effect and opens the next one; archiving closes every open period, so an archived member is in
no period from that day on (off every denominator).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, ByteText, UTCDateTime, utcnow


class AttachmentKind(StrEnum):
    PRIMARY = "primary"  # the branch where the member is registered (sinh hoạt chính thức)
    RESIDENCE = "residence"  # the branch where they live (sinh hoạt nơi cư trú): a second tie


class ArchiveReason(StrEnum):
    LEFT = "left"  # ra khỏi Đảng (xin ra, xóa tên)
    DECEASED = "deceased"  # từ trần
    EXPELLED = "expelled"  # khai trừ
    MOVED_OUT = "moved_out"  # chuyển sinh hoạt ra ngoài đảng bộ (out of this deployment)


class MembershipPeriod(Base):
    __tablename__ = "membership_period"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16), default=AttachmentKind.PRIMARY)
    status: Mapped[str] = mapped_column(String(16))
    is_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The exemption decision (số quyết định miễn sinh hoạt), while exempt.
    exemption_ref: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_membership_period_member_id", "member_id", "kind", "valid_from"),
        Index("ix_membership_period_org_id", "org_id", "valid_from"),
    )


class OrgPlacement(Base):
    """Where an org sat in the tree over time. `lineage` is the org's path as it was during the
    period (a record of the past: tree moves add a period, they never rewrite this column), so
    "the members of org X on day D" is the members whose branch's lineage on D lies under X's
    lineage on D, however the tree was reorganised since."""

    __tablename__ = "org_placement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    lineage: Mapped[str] = mapped_column(ByteText(512))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_org_placement_org_id", "org_id", "valid_from"),
        Index("ix_org_placement_lineage", "lineage"),
    )
