"""Authorization rows: the audit log."""

from __future__ import annotations

from tests.authz.harness import Call, Row, org_targets, table

ROWS = {
    "list_org_audit_events": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{org_targets('b1', 'c1', 'c2')(c, t)}/audit"),
        table(
            member="403 403 404",
            secretary="403 403 404",
            deputy="403 403 404",
            committee="403 403 404",
            officer_c1="200 200 404",
            approver="403 403 404",
            officer_root="200 200 200",
            editor="403 403 403",
            admin="200 200 200",
        ),
        "org.not_found",
    ),
}
