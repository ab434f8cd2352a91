"""Membership over time: transfers, residence, exemptions, full membership, archive, and the
questions about the past ("as of a day") before and after each."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, AuthSession, Member, MembershipPeriod, RoleGrant
from app.resources import Resources
from app.services import history
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect


@pytest.fixture
def today(resources: Resources) -> date:
    return history.local_today(resources.settings.rules.timezone)


async def _as_of(
    client: httpx.AsyncClient, headers: dict[str, str], member_id: int, day: date
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/members/{member_id}/as-of", params={"date": day.isoformat()}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _roll(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int, day: date
) -> dict[int, dict[str, Any]]:
    items = await collect(
        client, f"/api/v1/orgs/{org_id}/members/as-of", headers, {"date": day.isoformat()}
    )
    return {item["member_id"]: item for item in items}


async def _audit(session: AsyncSession, action: str, member_id: int) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.target_id == str(member_id)
        )
    )
    return list(rows)


async def test_transfer_moves_the_member_and_keeps_where_they_were(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    moved_on = today - timedelta(days=10)
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b3.id, "effective_date": moved_on.isoformat(), "note": "Đi làm"},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["branch"]["id"] == tree.b3.id
    assert response.headers["ETag"] == f'"v{response.json()["version"]}"'

    member = await session.get(Member, tree.member.id, populate_existing=True)
    assert member is not None
    assert (member.branch_id, member.org_path) == (tree.b3.id, tree.b3.path)
    before = await _as_of(client, officer, tree.member.id, moved_on - timedelta(days=1))
    after = await _as_of(client, officer, tree.member.id, moved_on)
    assert before["branch"]["id"] == tree.b1.id
    assert after["branch"]["id"] == tree.b3.id
    assert before["is_member"]
    assert after["is_member"]

    history_body = (
        await client.get(f"/api/v1/members/{tree.member.id}/history", headers=officer)
    ).json()
    periods = [(p["org"]["id"], p["valid_from"], p["valid_to"]) for p in history_body["periods"]]
    assert periods == [
        (tree.b1.id, None, moved_on.isoformat()),
        (tree.b3.id, moved_on.isoformat(), None),
    ]
    # The branches' rolls of the past do not change; the commune's holds the member throughout.
    assert tree.member.id in await _roll(client, officer, tree.b1.id, moved_on - timedelta(1))
    assert tree.member.id not in await _roll(client, officer, tree.b1.id, moved_on)
    assert tree.member.id in await _roll(client, officer, tree.b3.id, moved_on)
    assert tree.member.id not in await _roll(client, officer, tree.b3.id, moved_on - timedelta(1))
    assert tree.member.id in await _roll(client, officer, tree.c1.id, moved_on - timedelta(1))
    assert tree.member.id in await _roll(client, officer, tree.c1.id, today)

    out = await _audit(session, "member.transfer_out", tree.member.id)
    into = await _audit(session, "member.transfer_in", tree.member.id)
    assert [e.org_id for e in out] == [tree.b1.id]
    assert [e.org_id for e in into] == [tree.b3.id]
    assert out[0].actor_id == tree.officer_c1.id
    assert out[0].detail is not None
    assert out[0].detail["effective_date"] == moved_on.isoformat()


async def test_transfer_needs_management_over_both_branches(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # C2's branch is outside the commune officer's scope: as if it did not exist.
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b4.id},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 404, "org.not_found")
    # A committee member of C1 sees B2 but may not manage members.
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b2.id},
        headers=await as_actor(tree.committee.id),
    )
    assert_problem(response, 403, "scope.forbidden")
    member = await session.get(Member, tree.member.id, populate_existing=True)
    assert member is not None
    assert member.branch_id == tree.b1.id
    periods = await session.scalars(
        select(MembershipPeriod).where(MembershipPeriod.member_id == tree.member.id)
    )
    assert list(periods) == []
    # The province officer manages both.
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b4.id},
        headers=await as_actor(tree.officer_root.id),
    )
    assert response.status_code == 200, response.text
    assert response.json()["branch"]["id"] == tree.b4.id


async def test_transfer_refuses_committees_the_same_branch_and_bad_days(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, today: date
) -> None:
    officer = await as_actor(tree.officer_root.id)
    url = f"/api/v1/members/{tree.member.id}/transfer"
    assert_problem(
        await client.post(url, json={"branch_id": tree.c1.id}, headers=officer),
        422,
        "member.org_not_branch",
    )
    assert_problem(
        await client.post(url, json={"branch_id": tree.b1.id}, headers=officer),
        409,
        "membership.same_branch",
    )
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert_problem(
        await client.post(
            url, json={"branch_id": tree.b2.id, "effective_date": tomorrow}, headers=officer
        ),
        422,
        "membership.date_in_future",
    )
    first = today - timedelta(days=5)
    response = await client.post(
        url, json={"branch_id": tree.b2.id, "effective_date": first.isoformat()}, headers=officer
    )
    assert response.status_code == 200
    # Before the period that is now open: the recorded past is not rewritten.
    earlier = (first - timedelta(days=1)).isoformat()
    assert_problem(
        await client.post(
            url, json={"branch_id": tree.b3.id, "effective_date": earlier}, headers=officer
        ),
        409,
        "membership.date_before_current",
    )
    # On the day the open period began: that period is corrected in place.
    response = await client.post(
        url, json={"branch_id": tree.b3.id, "effective_date": first.isoformat()}, headers=officer
    )
    assert response.status_code == 200
    body = (await client.get(f"/api/v1/members/{tree.member.id}/history", headers=officer)).json()
    assert [(p["org"]["id"], p["valid_from"]) for p in body["periods"]] == [
        (tree.b1.id, None),
        (tree.b3.id, first.isoformat()),
    ]


async def test_a_transfer_ends_the_roles_held_on_the_old_branch(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    response = await client.post(
        f"/api/v1/members/{tree.secretary.id}/transfer",
        json={"branch_id": tree.b2.id},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == []
    grants = await session.scalars(
        select(RoleGrant).where(RoleGrant.member_id == tree.secretary.id)
    )
    assert all(g.revoked_at is not None for g in grants)


async def test_stale_etag_refuses_the_transfer(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    read = await client.get(f"/api/v1/members/{tree.member.id}", headers=officer)
    etag = read.headers["ETag"]
    patched = await client.patch(
        f"/api/v1/members/{tree.member.id}",
        json={"full_name": "Nguyễn Văn Ân"},
        headers={**officer, "If-Match": etag},
    )
    assert patched.status_code == 200
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b2.id},
        headers={**officer, "If-Match": etag},
    )
    assert_problem(response, 412, "resource.etag_mismatch")
    member = await session.get(Member, tree.member.id, populate_existing=True)
    assert member is not None
    assert member.branch_id == tree.b1.id


async def test_exemption_with_a_decision_is_in_the_history(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    since = today - timedelta(days=30)
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/exemption",
        json={"decision_ref": "125-QĐ/ĐU", "effective_date": since.isoformat()},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_exempt"] is True
    assert response.json()["exempt_since"] == since.isoformat()
    assert_problem(
        await client.post(
            f"/api/v1/members/{tree.member.id}/exemption",
            json={"decision_ref": "126-QĐ/ĐU"},
            headers=officer,
        ),
        409,
        "membership.already_exempt",
    )
    ended = today - timedelta(days=3)
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/exemption/end",
        json={"effective_date": ended.isoformat()},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_exempt"] is False

    before = await _as_of(client, officer, tree.member.id, since - timedelta(days=1))
    during = await _as_of(client, officer, tree.member.id, since)
    after = await _as_of(client, officer, tree.member.id, ended)
    assert (before["is_exempt"], during["is_exempt"], after["is_exempt"]) == (False, True, False)
    assert during["exemption_ref"] == "125-QĐ/ĐU"
    counts = await history.counts_as_of(session, tree.b1.id, since)
    # B1: member (exempt now), secretary, deputy, exempt (since always), probationary.
    assert (counts.total, counts.exempt, counts.voting, counts.probationary) == (5, 2, 2, 1)
    assert len(await _audit(session, "member.exemption_set", tree.member.id)) == 1
    assert len(await _audit(session, "member.exemption_end", tree.member.id)) == 1


async def test_probationary_member_becomes_full_on_the_official_date(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    official = today - timedelta(days=2)
    url = f"/api/v1/members/{tree.probationary.id}/full-membership"
    joined = tree.probationary.joined_date
    tree.probationary.joined_date = today - timedelta(days=1)
    await session.commit()
    early = await client.post(url, json={"official_date": official.isoformat()}, headers=officer)
    assert_problem(early, 422, "member.official_before_joined")
    record = await client.get(f"/api/v1/members/{tree.probationary.id}", headers=officer)
    assert (record.json()["status"], record.json()["official_date"]) == ("probationary", None)
    tree.probationary.joined_date = joined
    await session.commit()
    response = await client.post(
        url,
        json={"official_date": official.isoformat(), "decision_ref": "7-QĐ/ĐU"},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "full"
    assert response.json()["official_date"] == official.isoformat()
    assert (await _as_of(client, officer, tree.probationary.id, official - timedelta(1)))[
        "status"
    ] == "probationary"
    assert (await _as_of(client, officer, tree.probationary.id, official))["status"] == "full"
    assert_problem(
        await client.post(url, json={"official_date": official.isoformat()}, headers=officer),
        409,
        "membership.not_probationary",
    )
    assert len(await _audit(session, "member.full_membership", tree.probationary.id)) == 1


async def test_archived_member_leaves_every_count_from_the_day(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    member_login = await as_actor(tree.member.id)
    left = today - timedelta(days=7)
    response = await client.post(
        f"/api/v1/members/{tree.member.id}/archive",
        json={"reason": "deceased", "effective_date": left.isoformat()},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["archived_on"], body["archive_reason"], body["is_locked"]) == (
        left.isoformat(),
        "deceased",
        True,
    )
    # Still there: the record, its history; gone from the directory and the counts.
    assert (
        await client.get(f"/api/v1/members/{tree.member.id}", headers=officer)
    ).status_code == 200
    directory = await collect(client, f"/api/v1/orgs/{tree.b1.id}/members", officer)
    assert tree.member.id not in {m["id"] for m in directory}
    assert tree.member.id in await _roll(client, officer, tree.b1.id, left - timedelta(days=1))
    assert tree.member.id not in await _roll(client, officer, tree.b1.id, left)
    assert (await _as_of(client, officer, tree.member.id, left))["is_member"] is False
    assert (await history.counts_as_of(session, tree.b1.id, left)).total == 4
    assert (await history.counts_as_of(session, tree.b1.id, left - timedelta(1))).total == 5
    # Their logins ended; nothing more can be done to the record.
    assert (await client.get("/api/v1/me", headers=member_login)).status_code == 401
    sessions = await session.scalars(
        select(AuthSession).where(AuthSession.member_id == tree.member.id)
    )
    assert all(s.revoke_reason == "archived" for s in sessions)
    for url, payload in (
        ("transfer", {"branch_id": tree.b2.id}),
        ("exemption", {"decision_ref": "1-QĐ"}),
        ("archive", {"reason": "left"}),
        ("unlock", None),
    ):
        assert_problem(
            await client.post(
                f"/api/v1/members/{tree.member.id}/{url}", json=payload, headers=officer
            ),
            409,
            "member.archived",
        )
    assert len(await _audit(session, "member.archive", tree.member.id)) == 1


async def test_residence_attachment_is_a_second_tie(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, today: date
) -> None:
    officer = await as_actor(tree.officer_root.id)
    url = f"/api/v1/members/{tree.member.id}/residence"
    since = today - timedelta(days=20)
    assert_problem(
        await client.put(url, json={"branch_id": tree.b1.id}, headers=officer),
        422,
        "membership.residence_is_branch",
    )
    response = await client.put(
        url, json={"branch_id": tree.b4.id, "effective_date": since.isoformat()}, headers=officer
    )
    assert response.status_code == 200, response.text
    assert response.json()["branch"]["id"] == tree.b1.id
    now = await _as_of(client, officer, tree.member.id, today)
    assert (now["branch"]["id"], now["residence"]["id"]) == (tree.b1.id, tree.b4.id)
    assert (await _as_of(client, officer, tree.member.id, since - timedelta(1)))[
        "residence"
    ] is None
    # The residence branch's roll is of its own members only.
    assert tree.member.id not in await _roll(client, officer, tree.b4.id, today)
    response = await client.post(f"{url}/end", json={}, headers=officer)
    assert response.status_code == 200
    assert (await _as_of(client, officer, tree.member.id, today))["residence"] is None
    assert (await _as_of(client, officer, tree.member.id, since))["residence"]["id"] == tree.b4.id
    assert_problem(
        await client.post(f"{url}/end", json={}, headers=officer), 409, "membership.no_residence"
    )


async def test_new_members_and_edits_enter_the_history(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, today: date
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    response = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/members",
        json={"full_name": "Lý Văn Mới", "status": "probationary"},
        headers=officer,
    )
    assert response.status_code == 201
    new_id = response.json()["id"]
    assert (await _as_of(client, officer, new_id, today - timedelta(1)))["is_member"] is False
    assert (await _as_of(client, officer, new_id, today))["branch"]["id"] == tree.b2.id
    response = await client.patch(
        f"/api/v1/members/{tree.member.id}", json={"status": "probationary"}, headers=officer
    )
    assert response.status_code == 200
    yesterday = await _as_of(client, officer, tree.member.id, today - timedelta(1))
    assert yesterday["status"] == "full"
    assert (await _as_of(client, officer, tree.member.id, today))["status"] == "probationary"


async def test_past_counts_do_not_change_when_members_move_later(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    past = today - timedelta(days=40)
    before = await history.counts_as_of(session, tree.c1.id, past)
    officer = await as_actor(tree.officer_root.id)
    for member in (tree.member, tree.teacher):
        response = await client.post(
            f"/api/v1/members/{member.id}/transfer",
            json={"branch_id": tree.b4.id, "effective_date": (past + timedelta(1)).isoformat()},
            headers=officer,
        )
        assert response.status_code == 200
    assert await history.counts_as_of(session, tree.c1.id, past) == before
    after = await history.counts_as_of(session, tree.c1.id, today)
    assert after.total == before.total - 2
    assert (await history.counts_as_of(session, tree.c2.id, today)).total == 5
