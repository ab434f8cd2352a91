"""Member import and roster export shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.member_import import ExportStatus, ImportStatus
from app.schemas.common import Flag, ObjectId, ReadModel, StrictModel


class ImportCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"upload_id": 6, "allow_transfers": False}]}
    )

    upload_id: ObjectId = Field(
        description="An upload of yours with purpose `import` (XLSX or CSV in UTF-8)."
    )
    allow_transfers: Flag = Field(
        False,
        description="Transfers allowed: a row whose card number belongs to a member of another "
        "branch moves that member to the row's branch (a transfer with history, dated the day "
        "it is applied) instead of being refused, when the officer running the dry run (then "
        "the apply) may manage members of both branches. Stored with the import.",
    )


class ImportCounts(ReadModel):
    rows: int = Field(0, description="Data rows read so far.")
    created: int = 0
    updated: int = 0
    transferred: int = Field(
        0,
        description="Members of another branch moved to the row's branch (only with "
        "`allow_transfers`); their other changes are applied with the move.",
    )
    unchanged: int = 0
    rejected: int = 0
    missing: int | None = Field(
        None,
        description="Members of the org (with or without a card number) that the file does "
        "not list: reported, never archived. Known once the dry run has finished.",
    )


class ImportFailure(BaseModel):
    code: str = Field(examples=["import.missing_columns"])
    detail: str


class ImportRead(BaseModel):
    id: int
    org_id: int
    filename: str
    allow_transfers: bool = Field(description="The import was made with transfers allowed.")
    status: ImportStatus = Field(
        description="`checking` (dry run), `checked` (report ready, may be applied), "
        "`applying`, `applied`, or `failed` (the file as a whole is unusable: see `error`)."
    )
    progress: ImportCounts | None = Field(
        description="Counts of the current phase (the dry run, then the apply) so far."
    )
    checked: ImportCounts | None = Field(description="What the dry run found.")
    error: ImportFailure | None
    has_report: bool = Field(description="A report can be downloaded (`GET …/report`).")
    created_by_id: int | None
    applied_by_id: int | None = Field(description="Who asked for the apply.")
    created_at: datetime
    checked_at: datetime | None
    applied_at: datetime | None


class ImportSummary(BaseModel):
    id: int
    filename: str
    status: ImportStatus
    created_at: datetime


class ImportProblem(BaseModel):
    column: str | None = Field(description="Column key (`card`, `phone` …); null: the row.")
    header: str | None = Field(description="The column as the template names it.")
    value: str
    code: str = Field(examples=["import.phone_invalid"])
    message: str = Field(examples=["Số điện thoại không hợp lệ."])


class ImportRejectedRow(BaseModel):
    row: int = Field(description="The row's number in the file.")
    cells: dict[str, str] = Field(description="The row's cells by column key.")
    problems: list[ImportProblem]


class FileLink(BaseModel):
    url: str = Field(description="A short-lived download link.")
    expires_at: datetime


class ExportCreate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"format": "xlsx"}]})

    format: Literal["xlsx", "csv"] = "xlsx"


class ExportRead(BaseModel):
    id: int
    org_id: int
    format: Literal["xlsx", "csv"]
    status: ExportStatus
    rows: int
    include_phones: bool = Field(
        description="Phones are exported only for those who may read member records here."
    )
    created_at: datetime
    finished_at: datetime | None
    download: FileLink | None = Field(description="Once `done`: the file.")
    error_detail: str | None
