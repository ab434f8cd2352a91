"""Membership over time: history, transfers, exemptions, status, archive, residence; phone
changes and the member's logins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.phone import Phone
from app.models.member import MemberStatus
from app.models.membership import ArchiveReason, AttachmentKind
from app.schemas.common import IsoDateText, NoNul, ObjectId, ReadModel, StrictModel
from app.schemas.org import OrgRef

EffectiveDate = Annotated[
    date,
    Field(
        ge=date(1900, 1, 1),
        le=date(2100, 1, 1),
        description="The day it takes effect (local calendar). Today when omitted; never in "
        "the future, never before the member's current period began.",
        examples=["2026-12-01"],
    ),
    IsoDateText,
]
Note = Annotated[str, Field(min_length=1, max_length=500, examples=["Theo nguyện vọng"]), NoNul]
DecisionRef = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["125-QĐ/ĐU"], description="Decision number."),
    NoNul,
]


class PeriodRead(BaseModel):
    kind: AttachmentKind
    org: OrgRef
    status: MemberStatus
    is_exempt: bool
    exemption_ref: str | None
    valid_from: date | None = Field(
        description="First day; null: since before the deployment kept history."
    )
    valid_to: date | None = Field(description="The day it ended (exclusive); null: still true.")


class MembershipHistory(BaseModel):
    member_id: int
    archived_on: date | None
    archive_reason: ArchiveReason | None
    periods: list[PeriodRead] = Field(description="Oldest first; residence periods included.")


class MembershipAsOf(BaseModel):
    """Where a member stood on a given day."""

    member_id: int
    on: date
    is_member: bool = Field(description="False before they joined the records or once archived.")
    branch: OrgRef | None
    status: MemberStatus | None
    is_exempt: bool | None
    exemption_ref: str | None
    residence: OrgRef | None


class OrgMemberAsOf(BaseModel):
    member_id: int
    full_name: str
    branch_id: int
    status: MemberStatus
    is_exempt: bool


class TransferCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "branch_id": 7,
                    "effective_date": "2026-12-01",
                    "note": "Chuyển nơi công tác về Sở Khoa học và Công nghệ",
                }
            ]
        }
    )

    branch_id: ObjectId = Field(description="The branch the member moves to.")
    effective_date: EffectiveDate | None = None
    note: Note | None = None


class ResidenceSet(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"branch_id": 9, "effective_date": "2026-12-01"}]}
    )

    branch_id: ObjectId = Field(description="The branch where the member lives.")
    effective_date: EffectiveDate | None = None


class ResidenceEnd(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"effective_date": "2026-12-01"}]})

    effective_date: EffectiveDate | None = None


class ExemptionSet(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"decision_ref": "125-QĐ/ĐU", "effective_date": "2026-12-01"}]
        }
    )

    decision_ref: DecisionRef
    effective_date: EffectiveDate | None = None


class ExemptionEnd(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"effective_date": "2026-12-01", "note": "Đã bình phục sức khỏe, trở lại sinh hoạt"}
            ]
        }
    )

    effective_date: EffectiveDate | None = None
    note: Note | None = None


class FullMembership(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"official_date": "2026-11-19", "decision_ref": "312-QĐ/ĐU"}]
        }
    )

    official_date: EffectiveDate = Field(description="Ngày chính thức: the day they became full.")
    decision_ref: DecisionRef | None = None


class ArchiveCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "moved_out",
                    "effective_date": "2026-12-01",
                    "note": "Chuyển sinh hoạt đảng chính thức về Đảng bộ tỉnh Khánh Hòa",
                }
            ]
        }
    )

    reason: ArchiveReason
    effective_date: EffectiveDate | None = None
    note: Note | None = None


class PhoneChangeByOfficer(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"phone": "+84987654321", "reason": "Đảng viên báo mất số điện thoại cũ"}]
        }
    )

    phone: Phone
    reason: Note


class PhoneChangeRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+84987654321"}]})

    phone: Phone


class PhoneChangeConfirm(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"challenge_id": "3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f81", "code": "482913"}]
        }
    )

    challenge_id: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["123456"])]


class PhoneChallengeRead(BaseModel):
    challenge_id: str
    expires_in: int
    resend_after: int


class LoginRead(ReadModel):
    """One login (a device that holds a refresh token)."""

    id: str
    method: str = Field(description="How it was made: otp, password, firebase.")
    device: str | None = Field(description="From the app's User-Agent, when it says.")
    app: str | None = Field(description="The app and its version, when the User-Agent says.")
    place: str | None = Field(
        description='A coarse place from the IP address, when known: "city, region, country" '
        "from the deployment's GeoIP database (GEOIP__DATABASE), or the internal network."
    )
    city: str | None = Field(None, description="The city of the address, when known.")
    region: str | None = Field(
        None, description="The province or region of the address, when known."
    )
    country: str | None = Field(None, description="The country of the address, when known.")
    created_at: datetime
    last_used_at: datetime
    is_current: bool


class LoginList(ReadModel):
    items: list[LoginRead] = Field(
        description="Live logins, newest first (at most AUTH__MAX_SESSIONS)."
    )


class OrgMove(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"parent_id": 3, "effective_date": "2026-12-01"}]}
    )

    parent_id: ObjectId = Field(description="The org it moves under.")
    effective_date: EffectiveDate | None = None


class OrgMerge(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"into_id": 5, "effective_date": "2026-12-01"}]}
    )

    into_id: ObjectId = Field(description="The org it merges into (of the same level).")
    effective_date: EffectiveDate | None = None


class OrgDissolve(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"effective_date": "2026-12-01"}]})

    effective_date: EffectiveDate | None = None
