"""Authorization rows: roles."""

from __future__ import annotations

from tests.authz.harness import (
    LIST_BRANCH,
    MANAGE_CREATE,
    MANAGE_DELETE,
    Call,
    Row,
    org_targets,
    pick,
)

branch = org_targets("b1", "b2", "b4")

ROWS = {
    "list_org_roles": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/roles"),
        LIST_BRANCH,
        "org.not_found",
    ),
    "grant_role": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/orgs/{branch(c, t)}/roles",
            {
                "member_id": pick(t, c.tree.member.id, c.tree.committee.id, c.tree.outsider.id),
                "role": "committee_member",
            },
        ),
        MANAGE_CREATE,
        "org.not_found",
    ),
    "revoke_role": Row(
        # own: the secretary's grant on B1; near: a grant on B3; far: a grant on B4.
        lambda c, t: Call("DELETE", f"/api/v1/roles/{c.grants[t]}"),
        MANAGE_DELETE,
        "role.not_found",
    ),
}
