"""Audit log shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.org import OrgRef
from app.schemas.role import MemberRef


class AuditEventRead(BaseModel):
    id: int
    at: datetime
    action: str = Field(examples=["member.lock"], description="`area.verb`, stable.")
    actor: MemberRef | None = Field(description="Null for the system or an operator's command.")
    on_behalf_of: MemberRef | None = Field(description="The member a proxy action was done for.")
    target_type: str = Field(examples=["member"])
    target_id: str
    org: OrgRef
    changes: dict[str, list[Any]] | None = Field(
        description="For edits: `{field: [before, after]}`."
    )
    detail: dict[str, Any] | None
    request_id: str | None
    ip: str | None
