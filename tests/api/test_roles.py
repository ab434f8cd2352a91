"""Granting and revoking roles: subtree coverage, no escalation, immediate effect."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RoleGrant
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


async def test_granted_role_covers_the_subtree_at_once(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    teacher = await as_actor(tree.teacher.id)
    url = f"/api/v1/orgs/{tree.g1.id}/members"
    assert (await client.get(url, headers=teacher)).status_code == 403
    granted = await client.post(
        f"/api/v1/orgs/{tree.g1.id}/roles",
        json={"member_id": tree.teacher.id, "role": "secretary"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert await _active_roles(session, tree.teacher.id) == [("secretary", tree.g1.id)]
    assert body["member"] == {"id": tree.teacher.id, "full_name": "Đỗ Văn Giang"}
    assert body["org"]["id"] == tree.g1.id
    assert body["granted_by_id"] == tree.officer_c1.id
    assert (await client.get(url, headers=teacher)).status_code == 200
    assert (
        await client.get(f"/api/v1/members/{tree.teacher.id}", headers=teacher)
    ).status_code == 200


async def _active_roles(session: AsyncSession, member_id: int) -> list[tuple[str, int]]:
    """The member's live grants, read back from the database."""
    rows = await session.execute(
        select(RoleGrant.role, RoleGrant.org_id)
        .where(RoleGrant.member_id == member_id, RoleGrant.revoked_at.is_(None))
        .order_by(RoleGrant.id)
        .execution_options(populate_existing=True)
    )
    return [(str(role), org_id) for role, org_id in rows.all()]


async def test_no_one_grants_more_than_they_hold(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/roles",
        json={"member_id": tree.member.id, "role": "deployment_admin"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 403, "role.cannot_grant")
    assert await _active_roles(session, tree.member.id) == []


async def test_grantee_must_be_in_the_granters_view(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/roles",
        json={"member_id": tree.outsider.id, "role": "committee_member"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 404, "member.not_found")
    assert await _active_roles(session, tree.outsider.id) == []


async def test_the_same_role_twice_is_a_conflict(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    before = await _active_roles(session, tree.secretary.id)
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/roles",
        json={"member_id": tree.secretary.id, "role": "secretary"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert_problem(response, 409, "role.already_granted")
    assert await _active_roles(session, tree.secretary.id) == before
    assert before.count(("secretary", tree.b1.id)) == 1


async def test_revoked_grants_stay_in_history_and_can_be_granted_again(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    grant_id = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.member_id == tree.secretary.id)
    )
    assert (await client.delete(f"/api/v1/roles/{grant_id}", headers=officer)).status_code == 204
    grant = await session.get(RoleGrant, grant_id, populate_existing=True)
    assert grant is not None
    assert grant.revoked_at is not None
    assert grant.revoked_by_id == tree.officer_c1.id
    assert ("secretary", tree.b1.id) not in await _active_roles(session, tree.secretary.id)
    again = await client.delete(f"/api/v1/roles/{grant_id}", headers=officer)
    assert_problem(again, 404, "role.not_found")
    listed = await client.get(f"/api/v1/orgs/{tree.b1.id}/roles", headers=officer)
    assert [i["role"] for i in listed.json()["items"]] == ["deputy_secretary"]
    regranted = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/roles",
        json={"member_id": tree.secretary.id, "role": "secretary"},
        headers=officer,
    )
    assert regranted.status_code == 201
    history = (
        await session.scalars(
            select(RoleGrant.revoked_by_id)
            .where(RoleGrant.member_id == tree.secretary.id)
            .order_by(RoleGrant.id)
        )
    ).all()
    assert history == [tree.officer_c1.id, None]


async def test_members_see_who_leads_their_branch(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/roles", headers=await as_actor(tree.member.id)
    )
    assert response.status_code == 200
    assert [(i["role"], i["member"]["id"]) for i in response.json()["items"]] == [
        ("secretary", tree.secretary.id),
        ("deputy_secretary", tree.deputy.id),
    ]


async def test_a_commune_officer_cannot_revoke_a_province_role(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    grant_id = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.member_id == tree.admin.id)
    )
    response = await client.delete(
        f"/api/v1/roles/{grant_id}", headers=await as_actor(tree.officer_c1.id)
    )
    assert_problem(response, 404, "role.not_found")
    grant = await session.get(RoleGrant, grant_id, populate_existing=True)
    assert grant is not None
    assert grant.revoked_at is None  # the province role stands
