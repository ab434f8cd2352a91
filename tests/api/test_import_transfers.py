"""Imports and the membership history: a card number of a member of another branch is refused
unless the import is made with "transfers allowed" by an officer who manages both branches (then
it is the administration's transfer, with history and audit); archived members are neither
changed, listed as missing nor exported; a status change through an import follows into the
history."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Member, MemberImport, MembershipPeriod
from app.resources import Resources
from app.services import history
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.imports_helpers import (
    download,
    get_import,
    rejected_codes,
    run_import,
    run_jobs,
    sheet_rows,
    start_import,
    xlsx_file,
)


@pytest.fixture
def today(resources: Resources) -> date:
    return history.local_today(resources.settings.rules.timezone)


def _row(card: str, name: str, branch: str, *, phone: str = "", status: str = "") -> list[Any]:
    return [card, name, "", "", phone, branch, status, "", "", ""]


async def _member(session: AsyncSession, member_id: int) -> Member:
    member = await session.get(Member, member_id, populate_existing=True)
    assert member is not None
    return member


async def _periods(
    client: httpx.AsyncClient, headers: dict[str, str], member_id: int
) -> list[tuple[int, str | None, str | None, str]]:
    response = await client.get(f"/api/v1/members/{member_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    return [
        (p["org"]["id"], p["valid_from"], p["valid_to"], p["status"])
        for p in response.json()["periods"]
    ]


async def _audit(session: AsyncSession, action: str, target_id: int) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.id)
    )
    return list(rows)


async def test_a_card_of_another_branch_moves_its_member_only_with_transfers_allowed(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
    today: date,
) -> None:
    tree.outsider.party_card_number = "11.000001"
    await session.flush()
    officer = await as_actor(tree.officer_root.id)  # manages members of the whole province
    rows = [
        _row("11.000001", tree.outsider.full_name, "Chi bộ Khu phố 1", phone="0915 111 001"),
        _row("11.000002", "Phan Văn Mới", "Chi bộ Khu phố 2"),
    ]
    data = xlsx_file(rows)

    # Without "transfers allowed": refused in the dry run and in the apply, nothing moves.
    checked, applied = await run_import(client, resources, officer, tree.c1.id, data)
    assert checked["allow_transfers"] is False
    counts = checked["checked"]
    assert (counts["created"], counts["transferred"], counts["rejected"]) == (1, 0, 1)
    assert await rejected_codes(client, officer, applied["id"]) == {2: ["import.card_other_branch"]}
    items = (
        await client.get(f"/api/v1/imports/{applied['id']}/rejected-rows", headers=officer)
    ).json()["items"]
    assert "cho phép chuyển sinh hoạt" in items[0]["problems"][0]["message"]
    outsider = await _member(session, tree.outsider.id)
    assert (outsider.branch_id, outsider.org_path) == (tree.b4.id, tree.b4.path)
    version = outsider.version

    # With it: the dry run reports the transfer and changes nothing.
    created = await start_import(client, officer, tree.c1.id, data, allow_transfers=True)
    await run_jobs(resources)
    checked = await get_import(client, officer, created["id"])
    assert checked["allow_transfers"] is True
    counts = checked["checked"]
    assert (counts["transferred"], counts["unchanged"], counts["rejected"]) == (1, 1, 0)
    outsider = await _member(session, tree.outsider.id)
    assert (outsider.branch_id, outsider.version) == (tree.b4.id, version)
    assert await _audit(session, "member.transfer_in", tree.outsider.id) == []
    report = await client.get(f"/api/v1/imports/{created['id']}/report", headers=officer)
    summary = sheet_rows(await download(client, report.json()["url"]), "Tổng hợp")
    assert ["Chuyển sinh hoạt từ chi bộ khác đến", 1] in summary

    # The apply is the administration's transfer: history from today, audit, the row's changes.
    response = await client.post(f"/api/v1/imports/{created['id']}/apply", headers=officer)
    assert response.status_code == 202, response.text
    await run_jobs(resources)
    applied = await get_import(client, officer, created["id"])
    assert applied["status"] == "applied"
    assert applied["applied_by_id"] == tree.officer_root.id
    assert (applied["progress"]["transferred"], applied["progress"]["rejected"]) == (1, 0)
    outsider = await _member(session, tree.outsider.id)
    assert (outsider.branch_id, outsider.org_path) == (tree.b1.id, tree.b1.path)
    assert outsider.phone == "+84915111001"
    day = today.isoformat()
    assert await _periods(client, officer, tree.outsider.id) == [
        (tree.b4.id, None, day, "full"),
        (tree.b1.id, day, None, "full"),
    ]
    (out,) = await _audit(session, "member.transfer_out", tree.outsider.id)
    (into,) = await _audit(session, "member.transfer_in", tree.outsider.id)
    for event in (out, into):
        assert event.actor_id == tree.officer_root.id
        assert event.detail is not None
        assert event.detail["from_branch_id"] == tree.b4.id
        assert event.detail["to_branch_id"] == tree.b1.id
        assert event.detail["effective_date"] == day
        assert "danh-sach.xlsx" in event.detail["note"]
    assert (out.org_id, into.org_id) == (tree.b4.id, tree.b1.id)
    (done,) = await _audit(session, "member_import.applied", created["id"])
    assert done.detail is not None
    assert done.detail["transferred"] == 1
    (asked,) = await _audit(session, "member_import.apply", created["id"])
    assert asked.detail is not None
    assert asked.detail["allow_transfers"] is True
    version = outsider.version

    # The same file again, transfers allowed: nothing changes.
    checked, applied = await run_import(
        client, resources, officer, tree.c1.id, data, allow_transfers=True
    )
    for counts in (checked["checked"], applied["progress"]):
        assert (counts["unchanged"], counts["transferred"], counts["rejected"]) == (2, 0, 0)
    outsider = await _member(session, tree.outsider.id)
    assert (outsider.branch_id, outsider.version) == (tree.b1.id, version)
    assert len(await _audit(session, "member.transfer_in", tree.outsider.id)) == 1
    assert len(await _periods(client, officer, tree.outsider.id)) == 2


async def test_an_officer_who_does_not_manage_both_branches_transfers_nobody(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
    today: date,
) -> None:
    tree.outsider.party_card_number = "12.000001"  # B4, in C2: not the C1 officer's
    tree.officer_c1.party_card_number = "12.000002"  # the officer themself
    tree.member.party_card_number = "12.000003"  # B1, in C1: theirs
    await session.flush()
    version = tree.outsider.version
    officer = await as_actor(tree.officer_c1.id)
    rows = [
        _row("12.000001", tree.outsider.full_name, "Chi bộ Khu phố 1"),
        _row("12.000002", tree.officer_c1.full_name, "Chi bộ Khu phố 1"),
        _row("12.000003", tree.member.full_name, "Chi bộ Khu phố 2"),
    ]
    checked, applied = await run_import(
        client, resources, officer, tree.c1.id, xlsx_file(rows), allow_transfers=True
    )
    for counts in (checked["checked"], applied["progress"]):
        assert (counts["transferred"], counts["rejected"]) == (1, 2)
    assert await rejected_codes(client, officer, applied["id"]) == {
        2: ["import.transfer_forbidden"],
        3: ["import.transfer_forbidden"],
    }
    items = (
        await client.get(f"/api/v1/imports/{applied['id']}/rejected-rows", headers=officer)
    ).json()["items"]
    assert "cả chi bộ hiện tại" in items[0]["problems"][0]["message"]
    assert "chính mình" in items[1]["problems"][0]["message"]

    # Nothing changed for the refused rows: no move, no history, no audit.
    outsider = await _member(session, tree.outsider.id)
    assert (outsider.branch_id, outsider.version) == (tree.b4.id, version)
    assert (await _member(session, tree.officer_c1.id)).branch_id == tree.b2.id
    for member_id in (tree.outsider.id, tree.officer_c1.id):
        assert await _audit(session, "member.transfer_in", member_id) == []
        periods = await session.scalar(
            select(func.count())
            .select_from(MembershipPeriod)
            .where(MembershipPeriod.member_id == member_id)
        )
        assert periods == 0
    # The member of the officer's own commune moved.
    assert (await _member(session, tree.member.id)).branch_id == tree.b2.id
    assert len(await _audit(session, "member.transfer_in", tree.member.id)) == 1


async def test_the_rights_of_the_officer_who_applies_decide_the_transfers(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
) -> None:
    """The province officer's dry run foresees a transfer from C2; the commune officer who then
    applies it may not move C2's member: the row is refused, the member stays."""
    tree.outsider.party_card_number = "13.000001"
    await session.flush()
    province = await as_actor(tree.officer_root.id)
    commune = await as_actor(tree.officer_c1.id)
    data = xlsx_file([_row("13.000001", tree.outsider.full_name, "Chi bộ Khu phố 1")])
    created = await start_import(client, province, tree.c1.id, data, allow_transfers=True)
    await run_jobs(resources)
    checked = await get_import(client, province, created["id"])
    assert checked["checked"]["transferred"] == 1
    response = await client.post(f"/api/v1/imports/{created['id']}/apply", headers=commune)
    assert response.status_code == 202, response.text
    await run_jobs(resources)
    applied = await get_import(client, commune, created["id"])
    assert (applied["progress"]["transferred"], applied["progress"]["rejected"]) == (0, 1)
    assert await rejected_codes(client, commune, created["id"]) == {
        2: ["import.transfer_forbidden"]
    }
    assert (await _member(session, tree.outsider.id)).branch_id == tree.b4.id
    run = await session.get(MemberImport, created["id"], populate_existing=True)
    assert run is not None
    assert (run.created_by_id, run.applied_by_id) == (tree.officer_root.id, tree.officer_c1.id)


async def test_archived_members_are_kept_out_and_status_changes_reach_the_history(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    resources: Resources,
    session: AsyncSession,
    today: date,
) -> None:
    tree.exempt.party_card_number = "14.000001"
    tree.probationary.party_card_number = "14.000002"
    await session.flush()
    officer = await as_actor(tree.officer_c1.id)
    archived = await client.post(
        f"/api/v1/members/{tree.exempt.id}/archive",
        json={"reason": "deceased"},
        headers=officer,
    )
    assert archived.status_code == 200, archived.text
    rows = [
        _row("14.000001", tree.exempt.full_name, "Chi bộ Khu phố 1", phone="0915 222 001"),
        _row("14.000002", tree.probationary.full_name, "Chi bộ Khu phố 1", status="Chính thức"),
    ]
    # B1's members on the rolls (not the archived one); the file lists one of them.
    on_rolls = (
        await session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.branch_id == tree.b1.id, Member.archived_on.is_(None))
        )
        or 0
    )
    checked, applied = await run_import(client, resources, officer, tree.b1.id, xlsx_file(rows))
    assert await rejected_codes(client, officer, applied["id"]) == {2: ["import.member_archived"]}
    assert (await _member(session, tree.exempt.id)).phone != "+84915222001"
    assert checked["checked"]["missing"] == applied["progress"]["missing"] == on_rolls - 1
    # Listed, never archived: after the apply every one of them is still on the rolls.
    still = await session.scalar(
        select(func.count())
        .select_from(Member)
        .where(Member.branch_id == tree.b1.id, Member.archived_on.is_(None))
        .execution_options(populate_existing=True)
    )
    assert still == on_rolls

    # The probationary member became a full member through the file: the history follows.
    assert applied["progress"]["updated"] == 1
    assert (await _member(session, tree.probationary.id)).status == "full"
    day = today.isoformat()
    assert await _periods(client, officer, tree.probationary.id) == [
        (tree.b1.id, None, day, "probationary"),
        (tree.b1.id, day, None, "full"),
    ]

    # An export lists the members on the rolls only.
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/exports", json={"format": "xlsx"}, headers=officer
    )
    assert created.status_code == 202, created.text
    await run_jobs(resources)
    export = (await client.get(f"/api/v1/exports/{created.json()['id']}", headers=officer)).json()
    names = {row[1] for row in sheet_rows(await download(client, export["download"]["url"]))[1:]}
    assert tree.probationary.full_name in names
    assert tree.exempt.full_name not in names
    assert export["rows"] == on_rolls
