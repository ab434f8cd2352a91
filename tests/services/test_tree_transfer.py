"""Two deployments that merge: export one's tree with members, roles and history, import it
under an org of the other, keyed by card number; any conflict imports nothing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, MembershipPeriod, Org, OrgKind, Role, RoleGrant
from app.services import history, tree_transfer
from tests.factories import Tree, grant, make_member, make_org


async def _other_province(session: AsyncSession) -> tuple[Org, Org, Org, list[Member]]:
    root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh Bên Kia")
    commune = await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, name="Xã Bên Kia")
    east = await make_org(session, commune, name="Chi bộ Thôn Đông Kia", code="BK-DONG")
    west = await make_org(session, commune, name="Chi bộ Thôn Tây Kia")
    people = [await make_member(session, west, full_name=f"Hà Văn {n}") for n in ("An", "Bình")]
    await grant(session, people[0], west, Role.SECRETARY)
    # Hà Văn Bình was in the east branch until 1 March 2025.
    session.add_all(
        [
            MembershipPeriod(
                member_id=people[1].id,
                org_id=east.id,
                status="full",
                is_exempt=False,
                valid_to=date(2025, 3, 1),
            ),
            MembershipPeriod(
                member_id=people[1].id,
                org_id=west.id,
                status="full",
                is_exempt=False,
                valid_from=date(2025, 3, 1),
            ),
        ]
    )
    await session.flush()
    return root, east, west, people


def _as_if_elsewhere(data: dict[str, Any]) -> dict[str, Any]:
    """The same file as another deployment would write it: its own cards, phones, codes."""
    copied: dict[str, Any] = json.loads(json.dumps(data))
    for index, member in enumerate(copied["members"]):
        member["party_card_number"] = f"X{index:07d}"
        member["phone"] = f"+8498{index:07d}"
    for org in copied["orgs"]:
        org["code"] = f"X-{org['code']}" if org["code"] else None
    return copied


async def test_an_exported_tree_comes_in_with_members_roles_and_history(
    session: AsyncSession, tree: Tree
) -> None:
    root, _, west, people = await _other_province(session)
    data = await tree_transfer.export_tree(session, root.id)
    assert [o["name"] for o in data["orgs"]][:2] == ["Đảng bộ tỉnh Bên Kia", "Xã Bên Kia"]
    assert len(data["members"]) == 2
    assert len(data["periods"]) == 2
    assert data["roles"] == [{"member_id": people[0].id, "org_id": west.id, "role": "secretary"}]

    report = await tree_transfer.import_tree(session, _as_if_elsewhere(data), tree.p.id)
    assert report.ok, report.conflicts
    assert (report.orgs, report.members, report.roles, report.periods) == (4, 2, 1, 2)
    imported_root = await session.scalar(
        select(Org).where(Org.name == "Đảng bộ tỉnh Bên Kia", Org.parent_id == tree.p.id)
    )
    assert imported_root is not None
    assert imported_root.path == f"{tree.p.path}{imported_root.id}/"
    binh = await session.scalar(select(Member).where(Member.party_card_number == "X0000001"))
    assert binh is not None
    assert binh.org_path.startswith(imported_root.path)
    # History came along: before March 2025 Bình was in the (imported) east branch.
    before = await history.member_as_of(session, binh.id, date(2025, 2, 1))
    after = await history.member_as_of(session, binh.id, date(2025, 6, 1))
    assert before.branch is not None
    assert after.branch is not None
    assert before.branch.name == "Chi bộ Thôn Đông Kia"
    assert after.branch.name == "Chi bộ Thôn Tây Kia"
    assert after.branch.id == binh.branch_id
    secretary = await session.scalar(
        select(RoleGrant).where(
            RoleGrant.role == Role.SECRETARY, RoleGrant.org_id == binh.branch_id
        )
    )
    assert secretary is not None
    counts = await history.counts_as_of(session, tree.p.id, date(2025, 6, 1))
    assert counts.total == 13 + 2  # the canonical tree and the imported province


async def test_any_conflict_imports_nothing_and_is_reported(
    session: AsyncSession, tree: Tree
) -> None:
    root, *_ = await _other_province(session)
    data = await tree_transfer.export_tree(session, root.id)
    orgs_before = await session.scalar(select(func.count()).select_from(Org))
    members_before = await session.scalar(select(func.count()).select_from(Member))

    # The same people are already here (keyed by card number), the code is taken.
    report = await tree_transfer.import_tree(session, data, tree.c1.id)
    assert not report.ok
    assert sum("card" in c for c in report.conflicts) == 2
    assert sum("phone" in c for c in report.conflicts) == 2
    assert any("BK-DONG" in c for c in report.conflicts)
    assert await session.scalar(select(func.count()).select_from(Org)) == orgs_before
    assert await session.scalar(select(func.count()).select_from(Member)) == members_before

    assert (await tree_transfer.import_tree(session, data, tree.b1.id)).conflicts[-1:] != []
    dry = await tree_transfer.import_tree(session, _as_if_elsewhere(data), tree.c1.id, dry_run=True)
    assert dry.ok
    assert await session.scalar(select(func.count()).select_from(Org)) == orgs_before
    broken = {**data, "format": "something/else"}
    assert (await tree_transfer.import_tree(session, broken, tree.c1.id)).conflicts == [
        "unknown format 'something/else' (expected handbook-tree/1)"
    ]
