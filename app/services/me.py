"""The member's home screen, built from the actor already loaded for the request."""

from __future__ import annotations

from typing import Any

from app.core.db import Row
from app.models import OrgKind
from app.services.access import Actor


def home(actor: Actor, row: Row, *, study: dict[str, int]) -> dict[str, Any]:
    """The home screen from the actor and the extra columns of its query (`auth.actor._HOME`)."""
    next_meeting = None
    if row["next_meeting_id"] is not None:
        next_meeting = {
            "id": row["next_meeting_id"],
            "title": row["next_meeting_title"],
            "status": row["next_meeting_status"],
            "starts_at": row["next_meeting_starts_at"],
            "place": row["next_meeting_place"],
            "my_attendance": row["next_meeting_attendance"],
        }
    return {
        "unread_notifications": int(row["unread_notifications"]),
        "unread_documents": int(row["unread_documents"]),
        "next_meeting": next_meeting,
        "open_tasks": int(row["open_tasks"]),
        "study": study,
        "member": {
            "id": actor.member_id,
            "full_name": actor.full_name,
            "phone": actor.phone,
            "status": actor.status,
            "is_exempt": actor.is_exempt,
        },
        "branch": {"id": actor.branch_id, "name": actor.branch_name, "kind": OrgKind.BRANCH.value},
        "roles": [
            {
                "grant_id": h.grant_id,
                "role": h.role.value,
                "org": {"id": h.org_id, "name": h.org_name, "kind": h.org_kind},
            }
            for h in actor.roles
        ],
    }
