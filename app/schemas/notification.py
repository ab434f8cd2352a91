"""Devices, the notifications inbox and notification preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.models.notification import DevicePlatform, NoticeKind
from app.schemas.common import LocalTime, LocalTimeRead, NotNull, ObjectId, StrictModel

# FCM registration tokens: long, URL-safe base64 with ':' (about 160 characters today).
DeviceToken = Annotated[
    str, Field(min_length=32, max_length=4096, pattern=r"^[A-Za-z0-9_:\-.]{32,4096}$")
]


class DeviceRegister(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": (
                        "fGx7Qk2eT0uWc1Hn9pLr3S:APA91bF4kZq8Vn2Lx7Rt0Yw5Jc3Hs6Md1Pb9Ge4Ua8Oi2Ky"
                    ),
                    "platform": "android",
                    "app_version": "1.4.0",
                    "locale": "vi-VN",
                }
            ]
        }
    )

    token: DeviceToken
    platform: DevicePlatform
    app_version: Annotated[str, Field(max_length=32)] | None = None
    locale: (
        Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")]
        | None
    ) = None


class DeviceRead(BaseModel):
    """A registered device (never its token)."""

    id: int
    platform: DevicePlatform
    app_version: str | None
    locale: str | None
    created_at: datetime
    last_seen_at: datetime


class NotificationSummary(BaseModel):
    id: int
    kind: NoticeKind
    title: str
    body: str
    data: dict[str, str] = Field(
        description='Ids for the app to open the right screen, e.g. {"meeting_id": "42"}.'
    )
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


class NotificationPreferenceRead(BaseModel):
    muted_kinds: list[NoticeKind] = Field(
        description="Kinds not pushed (they still reach the inbox)."
    )
    quiet_start: LocalTimeRead | None = Field(
        description="Local time; non-urgent pushes wait until quiet_end."
    )
    quiet_end: LocalTimeRead | None
    is_sms_preferred: bool = Field(description="Reach this member by SMS (notices marked for it).")


class NotificationPreferenceUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "muted_kinds": ["article"],
                    "quiet_start": "22:00",
                    "quiet_end": "06:00",
                    "is_sms_preferred": False,
                }
            ]
        }
    )

    muted_kinds: NotNull[Annotated[list[NoticeKind], Field(max_length=len(NoticeKind))]] = None
    quiet_start: LocalTime | None = None
    quiet_end: LocalTime | None = None
    is_sms_preferred: NotNull[StrictBool] = None


class MarkAllRead(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"up_to_id": 20}]})

    up_to_id: ObjectId | None = Field(
        None, description="The newest the app has shown; later ones stay unread."
    )


class SmsPreference(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"is_sms_preferred": True}]})

    is_sms_preferred: StrictBool = Field(description="Send this member's notices by SMS too.")


class SmsPreferenceRead(BaseModel):
    member_id: int
    is_sms_preferred: bool
