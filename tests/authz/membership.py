"""Authorization rows: membership over time (history, transfers, residence, exemptions, full
membership, archive)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AttachmentKind, MembershipPeriod, MemberStatus
from app.resources import Resources
from tests.authz.harness import MANAGE, Call, Context, Row, org_targets, pick, table
from tests.factories import make_member

branch = org_targets("b1", "b2", "b4")
MEMBER = "member.not_found"
# Reading a member's record (as `get_member`): leadership and officers of their scope.
VIEW = table(
    member="403 404 404",
    secretary="200 404 404",
    deputy="200 404 404",
    committee="200 200 404",
    officer_c1="200 200 404",
    approver="403 403 404",
    officer_root="200 200 200",
    editor="403 403 403",
    admin="200 200 200",
)


async def setup(ctx: Context, session: AsyncSession, resources: Resources) -> None:
    """Per target (in B1, in B3 under C1, in B4 in C2): a plain member, an exempt member with a
    residence attachment (in B2), a probationary member."""
    t = ctx.tree
    made: dict[str, dict[str, int]] = {}
    for target, home in (("own", t.b1), ("near", t.b3), ("far", t.b4)):
        plain = await make_member(session, home, full_name="Đinh Văn Chuyển")
        exempt = await make_member(session, home, full_name="Lương Văn Miễn", is_exempt=True)
        probationary = await make_member(
            session, home, full_name="Hà Thị Dự", status=MemberStatus.PROBATIONARY
        )
        session.add(
            MembershipPeriod(
                member_id=exempt.id,
                org_id=t.b2.id,
                kind=AttachmentKind.RESIDENCE,
                status=MemberStatus.FULL,
                is_exempt=True,
            )
        )
        made[target] = {"plain": plain.id, "exempt": exempt.id, "probationary": probationary.id}
    await session.flush()
    ctx.extra["membership"] = made


def _member(ctx: Context, target: str, which: str = "plain") -> int:
    return int(ctx.extra["membership"][target][which])


Body = dict[str, Any] | Callable[[Context, str], dict[str, Any]]


def _action(path: str, which: str, body: Body) -> Row:
    def build(c: Context, t: str) -> Call:
        payload = body(c, t) if callable(body) else body
        return Call("POST", f"/api/v1/members/{_member(c, t, which)}/{path}", payload)

    return Row(build, MANAGE, MEMBER)


ROWS = {
    "get_membership_history": Row(
        lambda c, t: Call("GET", f"/api/v1/members/{_member(c, t)}/history"), VIEW, MEMBER
    ),
    "get_membership_as_of": Row(
        lambda c, t: Call("GET", f"/api/v1/members/{_member(c, t)}/as-of?date=2025-06-30"),
        VIEW,
        MEMBER,
    ),
    "list_org_members_as_of": Row(
        lambda c, t: Call("GET", f"/api/v1/orgs/{branch(c, t)}/members/as-of?date=2025-06-30"),
        VIEW,
        "org.not_found",
    ),
    "transfer_member": _action(
        "transfer",
        "plain",
        lambda c, t: {"branch_id": pick(t, c.tree.b2.id, c.tree.b2.id, c.tree.b1.id)},
    ),
    "set_member_residence": Row(
        lambda c, t: Call(
            "PUT", f"/api/v1/members/{_member(c, t)}/residence", {"branch_id": c.tree.b2.id}
        ),
        MANAGE,
        MEMBER,
    ),
    "end_member_residence": _action("residence/end", "exempt", {}),
    "set_member_exemption": _action("exemption", "plain", {"decision_ref": "12-QĐ/ĐU"}),
    "end_member_exemption": _action("exemption/end", "exempt", {}),
    "grant_full_membership": _action(
        "full-membership", "probationary", {"official_date": "2025-07-01"}
    ),
    "archive_member": _action("archive", "plain", {"reason": "moved_out"}),
}
