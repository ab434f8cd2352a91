"""A member's data on request: the member reads all of it; an organisation officer exports it
for the member (audited); secrets never appear."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Member
from app.models.study import PointSource
from app.services import member_data, points
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem


async def test_a_member_reads_everything_held_about_them(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    headers = await as_actor(tree.member.id)
    await points.award(
        session,
        member_id=tree.member.id,
        points=10,
        source=PointSource.MEETING,
        source_key=f"meeting:1:member:{tree.member.id}",
        reason="Dự sinh hoạt chi bộ",
    )
    await session.flush()
    response = await client.get("/api/v1/me/data", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["member_id"] == tree.member.id
    assert set(body["sections"]) == set(member_data.SECTIONS)
    member = await session.get(Member, tree.member.id)
    assert member is not None
    profile = body["sections"]["profile"]
    assert profile["full_name"] == member.full_name
    assert profile["phone"] == member.phone
    assert profile["branch_id"] == member.branch_id
    assert len(body["sections"]["logins"]) >= 1  # the login this request uses
    assert [(e["points"], e["source"]) for e in body["sections"]["study_points"]] == [
        (10, "meeting")
    ]
    assert body["sections"]["meeting_attendance"] == []
    text = json.dumps(body)
    for secret in ("password_hash", "token_hash", "code_hash", '"token"'):
        assert secret not in text


async def test_an_officer_exports_a_members_data_and_it_is_audited(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    lock = await client.post(f"/api/v1/members/{tree.member.id}/lock", headers=officer)
    assert lock.status_code == 200, lock.text
    response = await client.post(f"/api/v1/members/{tree.member.id}/data-export", headers=officer)
    assert response.status_code == 200, response.text
    audit_actions = [entry["action"] for entry in response.json()["sections"]["audit"]]
    assert "member.lock" in audit_actions
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "member.data_export")
    )
    assert event is not None
    assert event.actor_id == tree.officer_c1.id
    assert event.on_behalf_of_id == tree.member.id
    assert event.target_id == str(tree.member.id)


async def test_a_secretary_cannot_export_and_nothing_is_recorded(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    refused = await client.post(
        f"/api/v1/members/{tree.member.id}/data-export", headers=await as_actor(tree.secretary.id)
    )
    assert_problem(refused, 403, "scope.forbidden")
    assert (
        await session.scalar(select(AuditEvent).where(AuditEvent.action == "member.data_export"))
        is None
    )
