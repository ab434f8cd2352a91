"""Role grant shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.models.role import Role
from app.schemas.common import ObjectId, StrictModel
from app.schemas.org import OrgRef


class RoleHeld(BaseModel):
    grant_id: int
    role: Role
    org: OrgRef


class MemberRef(BaseModel):
    id: int
    full_name: str


class RoleGrantRead(BaseModel):
    id: int
    role: Role
    member: MemberRef
    org: OrgRef
    granted_at: datetime
    granted_by_id: int | None


class RoleGrantCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"member_id": 12, "role": "secretary"}]}
    )

    member_id: ObjectId
    role: Role
