"""Authorization rows: members."""

from __future__ import annotations

from tests.authz.harness import (
    LIST_BRANCH,
    MANAGE,
    MANAGE_CREATE,
    Call,
    Row,
    member_target,
    org_targets,
    table,
)

branch = org_targets("b1", "b2", "b4")
MEMBER = "member.not_found"

ROWS = {
    "list_org_members": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/members"),
        LIST_BRANCH,
        "org.not_found",
    ),
    "create_member": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/orgs/{branch(c, t)}/members", {"full_name": "Nguyễn Văn Mới"}
        ),
        MANAGE_CREATE,
        "org.not_found",
    ),
    "get_member": Row(
        # Members of one's branch are in the directory, their records are for leadership.
        lambda c, t: Call("GET", f"/api/v1/members/{member_target(c, t)}"),
        table(
            member="403 404 404",
            secretary="200 404 404",
            deputy="200 404 404",
            committee="200 200 404",
            officer_c1="200 200 404",
            approver="403 403 404",
            officer_root="200 200 200",
            editor="403 403 403",
            admin="200 200 200",
        ),
        MEMBER,
    ),
    "update_member": Row(
        lambda c, t: Call(
            "PATCH", f"/api/v1/members/{member_target(c, t)}", {"full_name": "Tên Mới Đây"}
        ),
        MANAGE,
        MEMBER,
    ),
    # A secretary may not lock or unlock members of their branch.
    "lock_member": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{member_target(c, t)}/lock"), MANAGE, MEMBER
    ),
    "unlock_member": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{member_target(c, t)}/unlock"), MANAGE, MEMBER
    ),
    "reset_member_password": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{member_target(c, t)}/password-reset"),
        MANAGE,
        MEMBER,
    ),
    # A member's data on request: organisation officers over the member's branch.
    "export_member_data": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{member_target(c, t)}/data-export"),
        MANAGE,
        MEMBER,
    ),
}
