"""A member's data on request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class MemberDataExport(BaseModel):
    """Everything the deployment holds about one member, by section (profile, roles, logins,
    devices, monthly activity, notifications, audit entries, and each area's own)."""

    member_id: int
    generated_at: datetime
    sections: dict[str, Any] = Field(
        description="One key per kind of data; lists are oldest first except notifications "
        "and audit entries (newest first, at most 5000 each)."
    )
