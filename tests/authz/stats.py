"""Authorization rows: statistics (leadership and organisation officers on the org or above)."""

from __future__ import annotations

from tests.authz.harness import Call, Row, org_targets
from tests.authz.study import STATS

branch = org_targets("b1", "b2", "b4")

ROWS = {
    "get_org_stats": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/stats?period=month"),
        STATS,
        "org.not_found",
    ),
    "list_org_child_stats": Row(
        lambda c, t: Call(
            "GET", f"/api/v1/orgs/{branch(c, t)}/stats/children?period=year&sort=attendance_rate"
        ),
        STATS,
        "org.not_found",
    ),
    "list_org_branch_signals": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/stats/branches?attention=true"),
        STATS,
        "org.not_found",
    ),
}
