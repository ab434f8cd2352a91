"""Member imports from the national member database's spreadsheets, and roster exports.

An import is a run over one uploaded file for one org: checked first (a dry run that writes only
its report), then applied (an upsert keyed by party card number, batch by batch, resumable).
The rows it refused are kept with their problems for the report.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class ImportStatus(StrEnum):
    CHECKING = "checking"  # the dry run is queued or running
    CHECKED = "checked"  # the dry run's report is ready; it may be applied
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"  # the file as a whole is unusable (no header, formulas, too many rows …)


class ExportStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class MemberImport(Base):
    __tablename__ = "member_import"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("upload.id", ondelete="SET NULL"))
    # "Transfers allowed": a card number of a member of another branch moves that member here
    # (a transfer with history) when the officer may manage members of both branches.
    allow_transfers: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Who asked for the apply: their rights decide the transfers it makes.
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.CHECKING)
    # The phase's cursor: the last file row whose outcome is committed (resume after it).
    next_row: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Running counts of the current phase: rows, created, updated, transferred, unchanged,
    # rejected, missing.
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The dry run's final counts (kept when the import is applied).
    checked_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    report_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_member_import_org_id", "org_id", "id"),)


class MemberImportRow(Base):
    """A row of the file that was refused, with its cells and what is wrong with them."""

    __tablename__ = "member_import_row"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("member_import.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cells: Mapped[dict[str, Any]] = mapped_column(JSON)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class MemberExport(Base):
    __tablename__ = "member_export"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    format: Mapped[str] = mapped_column(String(8))
    # Decided when it was asked for: phones only for those who may read member records.
    include_phones: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.PENDING)
    rows: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_member_export_org_id", "org_id", "id"),)
