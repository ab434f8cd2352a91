"""Authorization rows: moving, merging and dissolving orgs (organisation officers)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.resources import Resources
from tests.authz.harness import MANAGE, Call, Context, Row, org_targets, table
from tests.factories import make_org

ORG = "org.not_found"
# What moves or merges: B1, B3 (under G1 in C1), B4 (in C2).
moving = org_targets("b1", "b3", "b4")
# Where B1 goes under G1, B3 under C1, B4 under P.
new_parent = org_targets("g1", "c1", "p")


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    """An empty branch to dissolve per target: under C1, under G1 (in C1), under C2."""
    t = ctx.tree
    empty = {}
    for target, parent in (("own", t.c1), ("near", t.g1), ("far", t.c2)):
        empty[target] = (await make_org(session, parent, name="Chi bộ Giải Thể")).id
    ctx.extra["empty_orgs"] = empty


ROWS = {
    "move_org": Row(
        lambda c, t: Call(
            "POST", f"/api/v1/orgs/{moving(c, t)}/move", {"parent_id": new_parent(c, t)}
        ),
        MANAGE,
        ORG,
    ),
    # Every target merges into B2 (in C1): one role's merges run in one savepoint.
    "merge_org": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{moving(c, t)}/merge", {"into_id": c.tree.b2.id}),
        MANAGE,
        ORG,
    ),
    "dissolve_org": Row(
        lambda c, t: Call("POST", f"/api/v1/orgs/{c.extra['empty_orgs'][t]}/dissolve", {}),
        table(
            member="404 404 404",
            secretary="404 404 404",
            deputy="404 404 404",
            committee="403 403 404",
            officer_c1="200 200 404",
            approver="403 403 404",
            officer_root="200 200 200",
            editor="403 403 403",
            admin="200 200 200",
        ),
        ORG,
    ),
}
