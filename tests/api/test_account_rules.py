"""Who may take what back: nobody acts on their own account or role, peers of one org cannot
remove each other, a scope strictly above can, and a deployment admin always remains."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.models import Member, Role, RoleGrant
from app.services import roles as role_service
from tests.conftest import ActorLogin
from tests.factories import Tree, grant, make_member
from tests.http import assert_problem


async def _grant_of(session: AsyncSession, member_id: int) -> RoleGrant:
    found = await session.scalar(
        select(RoleGrant)
        .where(RoleGrant.member_id == member_id, RoleGrant.revoked_at.is_(None))
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def _locked(session: AsyncSession, member_id: int) -> bool:
    member = await session.get(Member, member_id, populate_existing=True)
    assert member is not None
    return member.is_locked


async def test_nobody_locks_or_edits_their_own_account(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for actor in (tree.officer_c1, tree.officer_root, tree.admin):
        headers = await as_actor(actor.id)
        url = f"/api/v1/members/{actor.id}"
        assert_problem(await client.post(f"{url}/lock", headers=headers), 403, "member.own_account")
        assert_problem(
            await client.patch(url, json={"full_name": "Tự Sửa Tên"}, headers=headers),
            403,
            "member.own_account",
        )
        assert not await _locked(session, actor.id)


async def test_nobody_revokes_their_own_role(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    for actor in (tree.officer_c1, tree.admin):
        own = await _grant_of(session, actor.id)
        response = await client.delete(f"/api/v1/roles/{own.id}", headers=await as_actor(actor.id))
        assert_problem(response, 403, "role.own_grant")
        assert (await _grant_of(session, actor.id)).revoked_at is None


async def test_peers_of_one_org_cannot_remove_each_other(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    peer = await make_member(session, tree.b3, full_name="Lý Thị Đồng Cấp")
    peer_grant = await grant(session, peer, tree.c1, Role.ORGANISATION_OFFICER)
    await session.commit()
    officer = await as_actor(tree.officer_c1.id)
    assert_problem(
        await client.post(f"/api/v1/members/{peer.id}/lock", headers=officer),
        403,
        "member.holds_higher_role",
    )
    assert_problem(
        await client.delete(f"/api/v1/roles/{peer_grant.id}", headers=officer),
        403,
        "role.cannot_revoke",
    )
    assert not await _locked(session, peer.id)
    assert (await _grant_of(session, peer.id)).revoked_at is None
    # The province officer sits strictly above C1: both work.
    province = await as_actor(tree.officer_root.id)
    assert (await client.post(f"/api/v1/members/{peer.id}/lock", headers=province)).is_success
    assert await _locked(session, peer.id)
    revoked = await client.delete(f"/api/v1/roles/{peer_grant.id}", headers=province)
    assert revoked.status_code == 204
    stored = await session.get(RoleGrant, peer_grant.id, populate_existing=True)
    assert stored is not None
    assert stored.revoked_at is not None
    assert stored.revoked_by_id == tree.officer_root.id


async def test_a_province_officer_cannot_remove_a_peer_on_the_province(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    editor_grant = await _grant_of(session, tree.editor.id)
    province = await as_actor(tree.officer_root.id)
    assert_problem(
        await client.delete(f"/api/v1/roles/{editor_grant.id}", headers=province),
        403,
        "role.cannot_revoke",
    )
    admin = await as_actor(tree.admin.id)
    assert (
        await client.delete(f"/api/v1/roles/{editor_grant.id}", headers=admin)
    ).status_code == 204


async def test_the_last_deployment_admin_remains(
    session: AsyncSession, tree: Tree, client: httpx.AsyncClient, as_actor: ActorLogin
) -> None:
    with pytest.raises(Conflict) as refused:
        await role_service.ensure_admin_remains(session, without_member=tree.admin.id)
    assert refused.value.code == "role.last_admin"
    admin_grant = await _grant_of(session, tree.admin.id)
    with pytest.raises(Conflict):
        await role_service.ensure_admin_remains(session, without_grant=admin_grant.id)
    # With a second admin, either may lock or remove the other.
    second = await make_member(session, tree.b4, full_name="Trương Văn Dự Phòng")
    await grant(session, second, tree.p, Role.DEPLOYMENT_ADMIN)
    await session.commit()
    await role_service.ensure_admin_remains(session, without_member=tree.admin.id)
    locked = await client.post(
        f"/api/v1/members/{second.id}/lock", headers=await as_actor(tree.admin.id)
    )
    assert locked.status_code == 200
    # The second admin is locked now: the first is the last one who can log in.
    with pytest.raises(Conflict):
        await role_service.ensure_admin_remains(session, without_grant=admin_grant.id)


async def test_a_grant_and_an_account_change_see_each_other(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # Once the teacher holds an officer role on C1, the commune officer no longer outranks
    # them: the account rule is decided on what is read in the write transaction.
    root = await as_actor(tree.officer_root.id)
    granted = await client.post(
        f"/api/v1/orgs/{tree.c1.id}/roles",
        json={"member_id": tree.teacher.id, "role": "organisation_officer"},
        headers=root,
    )
    assert granted.status_code == 201
    assert_problem(
        await client.post(
            f"/api/v1/members/{tree.teacher.id}/lock", headers=await as_actor(tree.officer_c1.id)
        ),
        403,
        "member.holds_higher_role",
    )
