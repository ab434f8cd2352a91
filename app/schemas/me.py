"""The member's own screens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.models.meeting import Attendance, MeetingStatus
from app.models.member import MemberStatus
from app.schemas.org import OrgRef
from app.schemas.role import RoleHeld


class HomeMember(BaseModel):
    id: int
    full_name: str
    phone: str | None
    status: MemberStatus
    is_exempt: bool


class HomeMeeting(BaseModel):
    id: int
    title: str
    status: MeetingStatus
    starts_at: datetime
    place: str | None
    my_attendance: Attendance | None = Field(
        description="pending (nothing yet), present (checked in) or excused."
    )


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
    unread_documents: int = Field(
        description="Published documents of my branch and the orgs above it I have not opened."
    )
    next_meeting: HomeMeeting | None = Field(
        description="My next meeting (announced or under way), if I am summoned to one."
    )
    open_tasks: int = Field(description="Tasks assigned to me that are still open.")
    study: HomeStudy
