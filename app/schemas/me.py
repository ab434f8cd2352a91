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


class HomeRead(BaseModel):
    """The app's first screen in one call."""

    member: HomeMember
    branch: OrgRef
    roles: list[RoleHeld]
    unread_notifications: int = Field(description="Unread notifications in my inbox.")
    unread_documents: int = Field(
        description="Published documents of my branch and the orgs above it I have not opened."
    )
