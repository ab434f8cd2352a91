"""Org tree shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.models.org import OrgKind
from app.schemas.common import NAME_RULES, NameText, NotNull, ObjectId, StrictModel

OrgName = Annotated[
    str,
    NameText,
    Field(min_length=2, max_length=255, examples=["Chi bộ Khu phố 3"], description=NAME_RULES),
]
OrgCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]


class OrgRef(BaseModel):
    id: int
    name: str
    kind: OrgKind


class OrgSummary(BaseModel):
    id: int
    parent_id: int | None
    name: str
    kind: OrgKind
    code: str | None
    depth: int = Field(description="0 for the root of the deployment.")


class OrgRead(OrgSummary):
    ancestors: list[OrgRef] = Field(description="From the root down to the parent.")
    child_count: int
    is_active: bool
    version: int = Field(description='Row version; the `ETag` header is `"v{version}"`.')
    created_at: datetime
    updated_at: datetime


class OrgCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "parent_id": 2,
                    "name": "Chi bộ Tổ dân phố 3",
                    "kind": "branch",
                    "code": "XH-TDP03",
                }
            ]
        }
    )

    parent_id: ObjectId
    name: OrgName
    kind: OrgKind
    code: OrgCode | None = None


class OrgUpdate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Chi bộ Tổ dân phố 3 - 4", "code": "XH-TDP0304"}]}
    )

    name: NotNull[OrgName] = None
    code: OrgCode | None = None
