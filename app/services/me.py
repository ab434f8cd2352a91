"""The member's home screen, built from the actor already loaded for the request."""

from __future__ import annotations

from typing import Any

from app.models import OrgKind
from app.services.access import Actor


def home(actor: Actor, *, unread_notifications: int, study: dict[str, int]) -> dict[str, Any]:
    return {
        "unread_notifications": unread_notifications,
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
