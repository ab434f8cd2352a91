"""Content shapes: documents, their files, relays, receipts and sections; articles; the feed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.content import (
    ArticleStatus,
    DocumentStatus,
    DocumentType,
    ExtractionStatus,
    PacketKind,
)
from app.schemas.common import (
    Flag,
    IsoDate,
    IsoDateTime,
    NotNull,
    ObjectId,
    StrictInt,
    StrictModel,
)
from app.schemas.org import OrgRef

Title = Annotated[
    str, Field(min_length=1, max_length=300, examples=["Nghị quyết về phát triển khoa học"])
]
Number = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-zÀ-ỹĐđ][0-9A-Za-zÀ-ỹĐđ /.\-]*$",
        examples=["57-NQ/TW"],
    ),
]
Summary = Annotated[str, Field(max_length=4000)]
Tag = Annotated[str, Field(min_length=1, max_length=40)]
Tags = Annotated[list[Tag], Field(max_length=20, examples=[["khoa học", "chuyển đổi số"]])]
IssuingBody = Annotated[str, Field(min_length=1, max_length=200, examples=["Bộ Chính trị"])]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class DocumentCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "resolution",
                    "title": (
                        "Nghị quyết số 57-NQ/TW về đột phá phát triển khoa học, công "
                        "nghệ, đổi mới sáng tạo và chuyển đổi số quốc gia"
                    ),
                    "number": "57-NQ/TW",
                    "issuing_body": "Bộ Chính trị",
                    "issued_on": "2024-12-22",
                    "summary": (
                        "Xác định phát triển khoa học, công nghệ, đổi mới sáng tạo "
                        "và chuyển đổi số là đột phá quan trọng hàng đầu, động lực "
                        "chính để phát triển nhanh lực lượng sản xuất hiện đại."
                    ),
                    "tags": ["khoa học", "chuyển đổi số"],
                    "is_confidential": False,
                    "is_important": True,
                }
            ]
        }
    )

    type: DocumentType
    title: Title
    number: Number | None = None
    issuing_body: IssuingBody | None = None
    issued_on: IsoDate | None = None
    summary: Summary = ""
    tags: Tags = Field(default_factory=list)
    is_confidential: Flag = False
    is_important: Flag = False


class DocumentUpdate(StrictModel):
    """Only the fields sent change (drafts only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "summary": (
                        "Bản tóm tắt các mục tiêu đến năm 2030 và tầm nhìn đến năm "
                        "2045; nhiệm vụ, giải pháp trọng tâm."
                    ),
                    "tags": ["khoa học", "đổi mới sáng tạo", "chuyển đổi số"],
                    "is_important": True,
                }
            ]
        }
    )

    type: NotNull[DocumentType] = None
    title: NotNull[Title] = None
    number: Number | None = None
    issuing_body: IssuingBody | None = None
    issued_on: IsoDate | None = None
    summary: NotNull[Summary] = None
    tags: NotNull[Tags] = None
    is_confidential: NotNull[Flag] = None
    is_important: NotNull[Flag] = None


class FileAttach(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"upload_id": 3}]})

    upload_id: ObjectId = Field(description="An upload of yours with purpose `document`.")


class DocumentFileRead(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    position: int


class ReceiptRead(BaseModel):
    opened_at: datetime
    studied_at: datetime | None
    position_section: int | None
    position_offset: int | None
    position_at: datetime | None


class RelaySummary(BaseModel):
    id: int
    org: OrgRef
    note: str
    plan_filename: str | None
    relayed_at: datetime


class DocumentSummary(BaseModel):
    id: int
    org: OrgRef
    type: DocumentType
    number: str | None
    title: str
    issuing_body: str | None
    issued_on: date | None
    status: DocumentStatus
    is_important: bool
    is_confidential: bool
    published_at: datetime | None


class DocumentRead(DocumentSummary):
    summary: str
    tags: list[str]
    extraction_status: ExtractionStatus
    created_at: datetime
    updated_at: datetime
    version: int
    files: list[DocumentFileRead]
    link: str = Field(description="Opens the document in the app (after login); for QR codes.")
    receipt: ReceiptRead | None = Field(description="Your own receipt, if you opened it.")
    relays: list[RelaySummary] = Field(
        description="Implementation plans of the committees that relayed it to you."
    )


class FileLink(BaseModel):
    url: str = Field(description="A short-lived signed download link.")
    expires_in: int = Field(description="Seconds the link stays valid.")


class StudyRead(BaseModel):
    document_id: int
    receipt: ReceiptRead


class PositionUpdate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"section": 12, "offset": 340}]})

    section: StrictInt = Field(ge=0, le=100_000)
    offset: StrictInt = Field(default=0, ge=0, le=10_000_000)


class RelayCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "org_id": 4,
                    "note": (
                        "Đảng ủy phường ban hành kế hoạch thực hiện; các chi bộ tổ "
                        "chức học tập, quán triệt trong tháng 01/2027."
                    ),
                }
            ]
        }
    )

    org_id: ObjectId = Field(description="Your committee, below the document's org.")
    note: Annotated[str, Field(max_length=2000)] = ""
    plan_upload_id: ObjectId | None = Field(
        default=None, description="The implementation plan: an upload with purpose `document`."
    )


class RelayRead(BaseModel):
    id: int
    document_id: int
    org: OrgRef
    note: str
    plan_filename: str | None
    relayed_by_id: int | None
    relayed_at: datetime


class UnitRelayStatus(BaseModel):
    org: OrgRef
    relayed_at: datetime | None = Field(description="Null: this unit has not relayed it yet.")
    relay_id: int | None


class UnitCoverage(BaseModel):
    org: OrgRef
    members: int = Field(description="Members of the unit's subtree (exempt members included).")
    opened: int
    studied: int


class CoverageRead(BaseModel):
    document_id: int
    org: OrgRef = Field(description="The org whose child units are listed.")
    members: int
    opened: int
    studied: int
    units: list[UnitCoverage]


class MemberNotRead(BaseModel):
    id: int
    full_name: str


class SectionRead(BaseModel):
    position: int
    kind: Literal["heading", "paragraph"]
    text: str


class SectionsRead(BaseModel):
    document_id: int
    extraction_status: ExtractionStatus
    sections: list[SectionRead]


# --- articles ---------------------------------------------------------------------------------

ArticleBody = Annotated[str, Field(max_length=100_000, description="Markdown (no raw HTML).")]
Category = Annotated[str, Field(min_length=1, max_length=64, examples=["Tin hoạt động"])]


class ArticleCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Đảng ủy phường Xuân Hương - Đà Lạt quán triệt Nghị quyết số 57-NQ/TW",
                    "summary": (
                        "Hơn 300 đảng viên của 18 chi bộ trực thuộc dự hội nghị quán "
                        "triệt, triển khai Nghị quyết."
                    ),
                    "body": (
                        "Sáng 12/01/2027, Đảng ủy phường tổ chức hội nghị quán triệt "
                        "Nghị quyết số 57-NQ/TW của Bộ Chính trị.\n\nHội nghị được kết "
                        "nối trực tuyến đến các chi bộ tổ dân phố."
                    ),
                    "category": "Tin hoạt động",
                    "is_important": False,
                }
            ]
        }
    )

    title: Title
    summary: Summary = ""
    body: ArticleBody = ""
    category: Category | None = None
    cover_upload_id: ObjectId | None = Field(
        default=None, description="An upload of yours with purpose `image`."
    )
    is_important: Flag = False


class ArticleUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "summary": (
                        "Hơn 300 đảng viên của 18 chi bộ trực thuộc dự hội nghị quán "
                        "triệt, triển khai Nghị quyết."
                    ),
                    "category": "Tin hoạt động",
                    "is_pinned": True,
                }
            ]
        }
    )

    title: NotNull[Title] = None
    summary: NotNull[Summary] = None
    body: NotNull[ArticleBody] = None
    category: Category | None = None
    cover_upload_id: NotNull[ObjectId] = None
    is_important: NotNull[Flag] = None
    is_pinned: NotNull[Flag] = None


class ArticleReject(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Đề nghị bổ sung ảnh hội nghị và số liệu đảng viên tham dự."}]
        }
    )

    reason: Reason


class ArticleSummary(BaseModel):
    id: int
    org: OrgRef
    title: str
    summary: str
    category: str | None
    status: ArticleStatus
    is_important: bool
    is_pinned: bool
    has_cover: bool
    published_at: datetime | None


class ArticleTransitionRead(BaseModel):
    from_status: ArticleStatus | None
    to_status: ArticleStatus
    reason: str | None
    actor_id: int | None
    at: datetime


class ArticleRead(ArticleSummary):
    body: str
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    link: str
    history: list[ArticleTransitionRead]


# --- feed and search --------------------------------------------------------------------------


class FeedItem(BaseModel):
    kind: Literal["document", "article"]
    id: int
    org: OrgRef
    title: str
    summary: str
    document_type: DocumentType | None = Field(description="Documents only.")
    number: str | None = Field(description="Documents only.")
    is_important: bool
    published_at: datetime
    unread: bool


class SearchHit(BaseModel):
    kind: Literal["document", "article"]
    id: int
    org: OrgRef
    title: str
    number: str | None
    document_type: DocumentType | None
    published_at: datetime | None
    status: DocumentStatus | ArticleStatus
    exact: bool = Field(description="Matched as typed (accents kept) or by document number.")


# --- packets ----------------------------------------------------------------------------------


class PacketCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "conference",
                    "title": "Tài liệu Hội nghị quán triệt Nghị quyết số 57-NQ/TW",
                    "description": (
                        "Tài liệu phục vụ hội nghị quán triệt của Đảng ủy phường ngày 12/01/2027."
                    ),
                    "public_until": "2027-01-31T23:59:00+07:00",
                }
            ]
        }
    )

    kind: PacketKind
    title: Title
    description: Annotated[str, Field(max_length=4000)] = ""
    public_until: IsoDateTime | None = Field(
        default=None,
        description="Open to guests without login until then (at most 90 days ahead).",
    )


class PacketItemCreate(StrictModel):
    """Exactly one of `document_id` (a published document of this org or above) and
    `upload_id` (one of your uploads: media, document or image)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"document_id": 3, "title": "Nghị quyết số 57-NQ/TW của Bộ Chính trị"}]
        }
    )

    document_id: ObjectId | None = None
    upload_id: ObjectId | None = None
    title: Title | None = None


class PacketItemRead(BaseModel):
    id: int
    position: int
    title: str
    document_id: int | None
    filename: str | None
    content_type: str | None
    size: int | None


class PacketRead(BaseModel):
    id: int
    org: OrgRef
    kind: PacketKind
    title: str
    description: str
    public_until: datetime | None
    public_url: str | None = Field(description="Guests' link while public (also in a QR).")
    link: str
    created_at: datetime
    items: list[PacketItemRead]


class PublicFile(BaseModel):
    filename: str
    content_type: str
    size: int | None
    url: str = Field(description="A signed link, valid for an hour.")


class PublicPacketItem(BaseModel):
    title: str
    number: str | None
    summary: str | None
    files: list[PublicFile]


class PublicPacketRead(BaseModel):
    title: str
    description: str
    org_name: str
    public_until: datetime
    items: list[PublicPacketItem]
