"""The member's own screens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.models.member import MemberStatus
from app.schemas.org import OrgRef
from app.schemas.role import RoleHeld


class HomeMember(BaseModel):
    id: int
    full_name: str
    phone: str | None
    status: MemberStatus
    is_exempt: bool


class HomeStudy(BaseModel):
    year: int
    points: int = Field(description="My study points this year.")
    target: int = Field(description="The yearly target per member.")


class HomeRead(BaseModel):
    """The app's first screen in one call."""

    member: HomeMember
    branch: OrgRef
    roles: list[RoleHeld]
    unread_notifications: int = Field(description="Unread notifications in my inbox.")
    study: HomeStudy
