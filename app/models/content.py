"""Documents (văn bản) and articles (tin, bài) published by an org for its subtree, with their
attached files, relays by lower committees, members' read receipts and extracted text."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class DocumentType(StrEnum):
    RESOLUTION = "resolution"  # nghị quyết
    DIRECTIVE = "directive"  # chỉ thị
    CONCLUSION = "conclusion"  # kết luận
    REGULATION = "regulation"  # quy định
    GUIDANCE = "guidance"  # hướng dẫn
    PLAN = "plan"  # kế hoạch
    ANNOUNCEMENT = "announcement"  # thông báo
    STUDY_MATERIAL = "study_material"  # tài liệu sinh hoạt
    OTHER = "other"  # văn bản khác


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ExtractionStatus(StrEnum):
    NONE = "none"  # nothing to extract (no PDF/DOCX attached) or not published yet
    PENDING = "pending"
    DONE = "done"
    SCANNED = "scanned"  # a PDF without a text layer and no OCR here: marked once, not retried
    FAILED = "failed"  # the last attempt failed (`extraction_error`); the job retries


class Document(Base):
    __tablename__ = "document"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    number: Mapped[str | None] = mapped_column(String(64))
    number_key: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    title_folded: Mapped[str] = mapped_column(String(300))
    issuing_body: Mapped[str | None] = mapped_column(String(200))
    issued_on: Mapped[date | None] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_folded: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    is_important: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    extraction_status: Mapped[str] = mapped_column(String(16), default=ExtractionStatus.NONE)
    extraction_error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The org that owned it before an org merge moved it to the org merged into (`org_id`):
    # statistics of past periods count it there. Null while it never moved.
    origin_org_id: Mapped[int | None] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration
    __table_args__ = (
        # An org's documents and the member's feed (documents of the branch and its ancestors).
        Index("ix_document_org_id", "org_id", "status", "published_at", "id"),
        Index("ix_document_origin_org_id", "origin_org_id", "status", "published_at"),
        Index(
            "ix_document_title_folded_trgm",
            "title_folded",
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
    )


class DocumentFile(Base):
    """A file attached to a document: an upload taken with the `document` purpose."""

    __tablename__ = "document_file"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("upload.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_document_file_document_id", "document_id", "position"),)


class DocumentRelay(Base):
    """A lower committee relayed an upper document to its subtree, with its own plan."""

    __tablename__ = "document_relay"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text, default="")
    plan_storage_key: Mapped[str | None] = mapped_column(String(255))
    plan_filename: Mapped[str | None] = mapped_column(String(255))
    plan_content_type: Mapped[str | None] = mapped_column(String(128))
    plan_size: Mapped[int | None] = mapped_column(BigInteger)
    relayed_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    relayed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("document_id", "org_id"),
        Index("ix_document_relay_org_id", "org_id", "id"),
    )


class DocumentReceipt(Base):
    """A member opened (and perhaps studied) a document: one row per member and document."""

    __tablename__ = "document_receipt"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("document.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    studied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Read-aloud / reading position, synced across the member's devices.
    position_section: Mapped[int | None] = mapped_column(Integer)
    position_offset: Mapped[int | None] = mapped_column(Integer)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_document_receipt_member_id", "member_id", "document_id"),)


class DocumentBranchReads(Base):
    """How many members of a branch opened and studied a document (the branch they were in when
    they did): kept with each receipt's first open and first "studied", so the coverage report of
    a province-wide document sums ~17k rows instead of joining every receipt to its member."""

    __tablename__ = "document_branch_reads"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("document.id", ondelete="CASCADE"), primary_key=True
    )
    branch_id: Mapped[int] = mapped_column(
        ForeignKey("org.id", ondelete="CASCADE"), primary_key=True
    )
    opened: Mapped[int] = mapped_column(Integer, default=0)
    studied: Mapped[int] = mapped_column(Integer, default=0)


class DocumentUnitReads(Base):
    """How many members of an org's subtree (any org below the root) opened and studied a
    document: kept beside `DocumentBranchReads` with each receipt's first open and first
    "studied" (one row per org on the reader's branch path but the root), and moved with a
    subtree when it moves, so a report reads one row per child unit instead of summing every
    branch below it. The root has none (its figures are its children's sum): no row every
    province-wide read would lock. Each row carries its org's parent (a copy of `org.parent_id`,
    moved with it), so an org's report reads its children's rows as one range of an index."""

    __tablename__ = "document_unit_reads"
    __table_args__ = (
        Index("ix_document_unit_reads_document_id_parent_id", "document_id", "parent_id"),
    )

    document_id: Mapped[int] = mapped_column(
        ForeignKey("document.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    # Stale (null, or the parent before a move) only on rows the previous release wrote during
    # a rolling upgrade: the row's next count mends it, `recount` mends them all.
    parent_id: Mapped[int | None] = mapped_column(BigId)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    studied: Mapped[int] = mapped_column(Integer, default=0)


class DocumentSection(Base):
    """Text extracted from a document's files, in reading order (headings and paragraphs)."""

    __tablename__ = "document_section"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # heading | paragraph
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("document_id", "position"),)


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Article(Base):
    __tablename__ = "article"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    title_folded: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_folded: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(64))
    cover_storage_key: Mapped[str | None] = mapped_column(String(255))
    cover_content_type: Mapped[str | None] = mapped_column(String(128))
    is_important: Mapped[bool] = mapped_column(Boolean, default=False)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # As `Document.origin_org_id`: the org it belonged to before a merge moved it.
    origin_org_id: Mapped[int | None] = mapped_column(BigId)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration
    __table_args__ = (
        Index("ix_article_org_id", "org_id", "status", "published_at", "id"),
        Index("ix_article_origin_org_id", "origin_org_id", "status", "published_at"),
        Index(
            "ix_article_title_folded_trgm",
            "title_folded",
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ).ddl_if(dialect="postgresql"),
    )


class ArticleTransition(Base):
    """The history of an article's workflow: who moved it from which state to which, why."""

    __tablename__ = "article_transition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_article_transition_article_id", "article_id", "id"),)


class ArticleRead(Base):
    __tablename__ = "article_read"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PacketKind(StrEnum):
    CONFERENCE = "conference"  # tài liệu hội nghị
    BULLETIN = "bulletin"  # bản tin nội bộ


class Packet(Base):
    """An ordered set of documents and media (a conference's papers, a monthly bulletin) that a
    QR code opens; `public_token` lets guests open it without login until `public_until`."""

    __tablename__ = "packet"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    public_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_packet_org_id", "org_id", "id"),)


class PacketItem(Base):
    """A packet's entry: a published document, or a media file (video, audio, image, PDF)."""

    __tablename__ = "packet_item"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("packet.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_packet_item_packet_id", "packet_id", "position"),)
