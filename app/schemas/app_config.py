"""The mobile apps' configuration."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.schemas.common import ReadModel, StrictModel

AppVersion = Annotated[
    str, Field(pattern=r"^\d{1,4}\.\d{1,4}(\.\d{1,4})?$", max_length=14, examples=["1.4.0"])
]
FeatureName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


class MinimumVersions(ReadModel):
    ios: AppVersion = "0.0.0"
    android: AppVersion = "0.0.0"


class SupportContact(ReadModel):
    phone: str | None = Field(None, examples=["024 3999 9999"])
    email: str | None = None
    hours: str | None = Field(None, max_length=120, examples=["Giờ hành chính, thứ Hai – thứ Sáu"])


class AppConfigRead(BaseModel):
    """What the apps read at start, before any login."""

    deployment_name: str = Field(examples=["Sổ tay đảng viên Đảng bộ tỉnh Lâm Đồng"])
    min_versions: MinimumVersions = Field(
        description="Older apps must update before they are used (the app shows a store link)."
    )
    support: SupportContact
    features: dict[str, bool] = Field(description="Switches the apps honour, by name.")
    version: int = Field(description='Row version; the `ETag` header is `"v{version}"`.')


class SupportContactUpdate(StrictModel):
    phone: (
        Annotated[str, Field(pattern=r"^\+?[0-9][0-9 .()-]{5,19}$", examples=["024 3999 9999"])]
        | None
    ) = None
    email: (
        Annotated[
            str,
            Field(
                max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["hotro@tinhuy.vn"]
            ),
        ]
        | None
    ) = None
    hours: Annotated[str, Field(min_length=1, max_length=120)] | None = None


class MinimumVersionsUpdate(StrictModel):
    ios: AppVersion
    android: AppVersion


class AppConfigUpdate(StrictModel):
    """The whole configuration (PUT replaces it)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "deployment_name": "Sổ tay đảng viên Đảng bộ tỉnh Lâm Đồng",
                    "min_versions": {"ios": "1.4.0", "android": "1.4.0"},
                    "support": {
                        "phone": "0263 3822 000",
                        "email": "hotro@tinhuy.lamdong.vn",
                        "hours": "Giờ hành chính, thứ Hai – thứ Sáu",
                    },
                    "features": {"surveys": True, "offline_check_in": True},
                }
            ]
        }
    )

    deployment_name: Annotated[str, Field(min_length=2, max_length=120)]
    min_versions: MinimumVersionsUpdate
    support: SupportContactUpdate
    features: Annotated[dict[FeatureName, StrictBool], Field(default_factory=dict, max_length=50)]
