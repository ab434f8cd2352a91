"""Idempotency-Key on writes: a retry gets the first answer, a reused key is refused, a failed
write can be retried. (Concurrent duplicates, which wait for the first and get its answer:
tests/api/test_concurrency.py, test_meeting_concurrency.py, test_study_concurrency.py.)"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.api.idempotency import Idempotent
from app.api.routing import IDEMPOTENCY_MARK, UNIT_OF_WORK_MARK, area_router, solve_order
from app.main import create_app
from app.models import IdempotencyKey, Member, RoleGrant
from app.models.base import utcnow
from tests.conftest import ActorLogin, make_settings
from tests.factories import Tree
from tests.http import assert_problem


async def _members_named(session: AsyncSession, name: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Member).where(Member.full_name == name)
        )
        or 0
    )


async def test_a_retried_create_gets_the_first_response(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "create-1"}
    body = {"full_name": "Nguyễn Văn Lặp", "phone": "0912 000 321"}
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["ETag"] == first.headers["ETag"]
    assert await _members_named(session, "Nguyễn Văn Lặp") == 1


async def test_a_key_reused_for_another_request_is_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "create-2"}
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    assert (await client.post(url, json={"full_name": "Trần Văn Một"}, headers=headers)).is_success
    other = await client.post(url, json={"full_name": "Trần Văn Hai"}, headers=headers)
    assert_problem(other, 422, "idempotency.key_reused")
    assert await _members_named(session, "Trần Văn Hai") == 0


async def test_keys_belong_to_the_member_who_sent_them(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    for officer in (tree.officer_c1, tree.officer_root):
        headers = {**await as_actor(officer.id), "Idempotency-Key": "same-key"}
        response = await client.post(url, json={"full_name": "Lê Văn Chung"}, headers=headers)
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
    assert await _members_named(session, "Lê Văn Chung") == 2


async def test_a_failed_write_can_be_retried_with_its_key(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "grant-1"}
    url = f"/api/v1/orgs/{tree.b1.id}/roles"
    body = {"member_id": tree.member.id, "role": "committee_member"}
    # First attempt fails (the member is outside what the officer may see), then succeeds.
    outsider = await client.post(
        url, json={"member_id": tree.outsider.id, "role": "committee_member"}, headers=headers
    )
    assert_problem(outsider, 404, "member.not_found")
    assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    retried = await client.post(
        url, json={"member_id": tree.outsider.id, "role": "committee_member"}, headers=headers
    )
    assert_problem(retried, 404, "member.not_found")
    granted = await client.post(url, json=body, headers={**headers, "Idempotency-Key": "grant-2"})
    replayed = await client.post(url, json=body, headers={**headers, "Idempotency-Key": "grant-2"})
    assert granted.status_code == replayed.status_code == 201
    assert replayed.json()["id"] == granted.json()["id"]
    grants = await session.scalar(
        select(func.count())
        .select_from(RoleGrant)
        .where(RoleGrant.member_id == tree.member.id, RoleGrant.revoked_at.is_(None))
    )
    assert grants == 1


async def test_a_claim_left_in_flight_gets_409_until_its_lease_passes(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "slow-1"}
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    body = {"full_name": "Phạm Văn Chậm"}
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201
    # A claim committed apart from its write (a replica of the previous release, which did so)
    # and never completed: duplicates are told to retry until its lease passes.
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "slow-1")
        .values(state="in_flight", status_code=None, locked_until=utcnow() + timedelta(seconds=30))
    )
    await session.commit()
    assert_problem(await client.post(url, json=body, headers=headers), 409, "idempotency.in_flight")
    # Past its lease the claim counts as abandoned (its process died): the key works again.
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "slow-1")
        .values(locked_until=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    taken_over = await client.post(url, json=body, headers=headers)
    assert taken_over.status_code == 201
    assert await _members_named(session, "Phạm Văn Chậm") == 2


async def test_expired_keys_start_afresh(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "old-1"}
    url = f"/api/v1/orgs/{tree.b1.id}/members"
    assert (await client.post(url, json={"full_name": "Vũ Văn Cũ"}, headers=headers)).is_success
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "old-1")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    fresh = await client.post(url, json={"full_name": "Vũ Văn Mới"}, headers=headers)
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers


async def test_malformed_keys_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = {**await as_actor(tree.officer_c1.id), "Idempotency-Key": "has space"}
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members", json={"full_name": "Đỗ Văn Khóa"}, headers=headers
    )
    assert_problem(response, 422, "request.invalid")
    assert await _members_named(session, "Đỗ Văn Khóa") == 0


def test_every_idempotent_write_claims_its_key_in_its_unit_of_work() -> None:
    """The claim is the first statement of the request's own transaction: every route taking an
    `Idempotency-Key` solves its unit of work (`SessionDep` or `LeanUnitDep`) before the claim,
    and a route that does not is refused when it is made."""
    app = create_app(make_settings())
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        order = solve_order(route.dependant)
        claims = [i for i, d in enumerate(order) if getattr(d.call, IDEMPOTENCY_MARK, False)]
        if not claims:
            continue
        checked += 1
        units = [i for i, d in enumerate(order) if getattr(d.call, UNIT_OF_WORK_MARK, False)]
        assert units, route.path
        assert units[0] < claims[0], route.path
    assert checked >= 10

    async def claim_before_session(_idempotency: Idempotent, session: SessionDep) -> None:
        return None

    router = area_router()
    with pytest.raises(TypeError, match="unit of work"):
        router.add_api_route("/x", claim_before_session, methods=["POST"])
