"""Authorization rows: the org tree."""

from __future__ import annotations

from tests.authz.harness import MANAGE, SELF, Call, Row, org_targets, pick, table

ORG = "org.not_found"
# Branch-level targets: B1, B2 (a sibling in C1), B4 (in C2).
branch = org_targets("b1", "b2", "b4")
# Committee-level targets: B1, C1, C2.
committee = org_targets("b1", "c1", "c2")

VIEW_SUBTREE = table(
    member="200 403 404",
    secretary="200 403 404",
    deputy="200 403 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="200 200 404",
    officer_root="200 200 200",
    editor="200 200 200",
    admin="200 200 200",
)

ROWS = {
    "search_orgs": Row(
        lambda c, t: Call("GET", "/api/v1/orgs?q=" + pick(t, "khu pho", "hoa binh", "tan lap")),
        SELF,
        ORG,
    ),
    "create_org": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/orgs",
            {
                "parent_id": org_targets("c1", "g1", "c2")(c, t),
                "name": "Chi bộ Mới",
                "kind": "branch",
            },
        ),
        table(
            member="403 404 404",
            secretary="403 404 404",
            deputy="403 404 404",
            committee="403 403 404",
            officer_c1="201 201 404",
            approver="403 403 404",
            officer_root="201 201 201",
            editor="403 403 403",
            admin="201 201 201",
        ),
        ORG,
    ),
    "get_org": Row(
        # Orgs above one's own are readable (breadcrumbs); siblings are not.
        lambda c, t: Call("GET", f"/api/v1/orgs/{org_targets('c1', 'b2', 'b4')(c, t)}"),
        table(
            member="200 404 404",
            secretary="200 404 404",
            deputy="200 404 404",
            committee="200 200 404",
            officer_c1="200 200 404",
            approver="200 200 404",
            officer_root="200 200 200",
            editor="200 200 200",
            admin="200 200 200",
        ),
        ORG,
    ),
    "update_org": Row(
        # A secretary may not rename their own branch.
        lambda c, t: Call("PATCH", f"/api/v1/orgs/{branch(c, t)}", {"name": "Chi bộ Đổi Tên"}),
        MANAGE,
        ORG,
    ),
    "list_org_children": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{committee(c, t)}/children"), VIEW_SUBTREE, ORG
    ),
    "list_org_subtree": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{committee(c, t)}/subtree"), VIEW_SUBTREE, ORG
    ),
}
