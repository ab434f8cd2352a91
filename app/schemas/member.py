"""Member shapes. List items carry what a branch directory shows; details need more rights."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.phone import Phone
from app.models.member import Gender, MemberStatus
from app.models.membership import ArchiveReason
from app.schemas.common import NAME_RULES, Flag, IsoDateText, NameText, NotNull, StrictModel
from app.schemas.org import OrgRef
from app.schemas.role import RoleHeld

FullName = Annotated[
    str,
    NameText,
    Field(min_length=2, max_length=255, examples=["Nguyễn Văn An"], description=NAME_RULES),
]
CardNumber = Annotated[
    str, Field(min_length=4, max_length=32, pattern=r"^[0-9A-Za-z.-]+$", examples=["01.012345"])
]
PastDate = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2100, 1, 1)), IsoDateText]


class MemberSummary(BaseModel):
    id: int
    full_name: str
    phone: str | None = Field(description="E.164, e.g. +84912345678.")
    status: MemberStatus
    is_exempt: bool
    branch_id: int


class MemberRead(BaseModel):
    id: int
    full_name: str
    phone: str | None
    party_card_number: str | None
    status: MemberStatus
    is_exempt: bool
    exempt_since: date | None
    date_of_birth: date | None
    gender: Gender | None
    joined_date: date | None = Field(description="Ngày vào Đảng.")
    official_date: date | None = Field(description="Ngày chính thức.")
    branch: OrgRef
    is_locked: bool
    archived_on: date | None = Field(description="The day the member left the rolls, if so.")
    archive_reason: ArchiveReason | None
    has_password: bool
    roles: list[RoleHeld]
    version: int = Field(description='Row version; the `ETag` header is `"v{version}"`.')
    created_at: datetime
    updated_at: datetime


class MemberCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "full_name": "Nguyễn Văn An",
                    "phone": "+84901234567",
                    "party_card_number": "01.024517",
                    "status": "full",
                    "is_exempt": False,
                    "date_of_birth": "1985-06-15",
                    "gender": "male",
                    "joined_date": "2010-05-19",
                    "official_date": "2011-05-19",
                }
            ]
        }
    )

    full_name: FullName
    phone: Phone | None = None
    party_card_number: CardNumber | None = None
    status: MemberStatus = MemberStatus.FULL
    is_exempt: Flag = False
    exempt_since: PastDate | None = None
    date_of_birth: PastDate | None = None
    gender: Gender | None = None
    joined_date: PastDate | None = None
    official_date: PastDate | None = None


class MemberUpdate(StrictModel):
    """Only the fields sent are changed; send `null` to clear a nullable field."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "full_name": "Trần Thị Bích Ngọc",
                    "phone": "+84987654321",
                    "date_of_birth": "1990-03-08",
                    "gender": "female",
                }
            ]
        }
    )

    full_name: NotNull[FullName] = None
    phone: Phone | None = None
    party_card_number: CardNumber | None = None
    status: NotNull[MemberStatus] = None
    is_exempt: NotNull[Flag] = None
    exempt_since: PastDate | None = None
    date_of_birth: PastDate | None = None
    gender: Gender | None = None
    joined_date: PastDate | None = None
    official_date: PastDate | None = None
