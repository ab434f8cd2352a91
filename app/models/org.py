"""The party organisation tree (tổ chức đảng) of any depth, with a materialized path."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, ByteText, TimestampMixin


class OrgKind(StrEnum):
    """Kinds of party organisation. No level is hard-coded: any kind may sit under any other."""

    PROVINCE_COMMITTEE = "province_committee"  # Tỉnh ủy / Thành ủy (Đảng bộ tỉnh, thành phố)
    AFFILIATED_COMMITTEE = "affiliated_committee"  # Đảng bộ trực thuộc (khối cơ quan, doanh nghiệp)
    DISTRICT_COMMITTEE = "district_committee"  # Huyện ủy / Quận ủy: history before 1 Jul 2025
    COMMUNE_COMMITTEE = "commune_committee"  # Đảng ủy xã / phường / đặc khu
    GRASSROOTS_COMMITTEE = "grassroots_committee"  # Đảng bộ cơ sở
    PARTIAL_COMMITTEE = "partial_committee"  # Đảng bộ bộ phận
    BRANCH = "branch"  # Chi bộ (chi bộ cơ sở or chi bộ trực thuộc): where members meet


class Org(TimestampMixin, Base):
    __tablename__ = "org"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    name_folded: Mapped[str] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    # "/1/7/93/": ids from the root down to this org. A subtree is one range scan on this column.
    path: Mapped[str] = mapped_column(ByteText(512), unique=True)
    depth: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # A branch's meetings summon the members attached to it for residence (sinh hoạt nơi cư
    # trú) unless a meeting says otherwise: the default of `meeting.has_residence_attendees`.
    has_residence_attendees: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Row version: bumped by every ORM update, exposed as the ETag (`If-Match` on edits).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration

    __table_args__ = (
        Index("ix_org_parent_id_name_folded", "parent_id", "name_folded", "id"),
        Index(
            "ix_org_name_folded_trgm",
            "name_folded",
            postgresql_using="gin",
            postgresql_ops={"name_folded": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
    )
