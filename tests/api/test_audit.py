"""The audit log: every administrative and security action leaves a row, readable by the
officers of the subtree it happened in, filterable, newest first."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, RoleGrant
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect


async def _events(session: AsyncSession) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def test_administrative_actions_are_recorded_with_their_changes(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": "Nguyễn Văn Mới", "phone": "0912 111 222"},
        headers={**officer, "X-Request-ID": "req-create-0001"},
    )
    new_id = created.json()["id"]
    await client.patch(
        f"/api/v1/members/{new_id}", json={"full_name": "Nguyễn Văn Đổi"}, headers=officer
    )
    await client.post(f"/api/v1/members/{new_id}/lock", headers=officer)
    await client.post(f"/api/v1/members/{new_id}/unlock", headers=officer)
    grant = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/roles",
        json={"member_id": new_id, "role": "committee_member"},
        headers=officer,
    )
    await client.delete(f"/api/v1/roles/{grant.json()['id']}", headers=officer)
    await client.post(
        "/api/v1/orgs",
        json={"parent_id": tree.c1.id, "name": "Chi bộ Mới", "kind": "branch"},
        headers=officer,
    )
    await client.post("/api/v1/auth/logout-all", headers=await as_actor(tree.member.id))

    events = await _events(session)
    assert [e.action for e in events] == [
        "member.create",
        "member.update",
        "member.lock",
        "member.unlock",
        "role.grant",
        "role.revoke",
        "org.create",
        "auth.logout_all",
    ]
    create, update = events[0], events[1]
    assert create.actor_id == tree.officer_c1.id
    assert create.org_id == tree.b1.id
    assert create.target_type == "member"
    assert create.target_id == str(new_id)
    assert create.request_id == "req-create-0001"
    assert create.ip == "203.0.113.7"
    assert create.changes is not None
    assert create.changes["phone"] == [None, "+84912111222"]
    assert update.changes == {"full_name": ["Nguyễn Văn Mới", "Nguyễn Văn Đổi"]}
    assert events[4].detail == {"role": "committee_member", "member_id": new_id}
    assert events[-1].actor_id == tree.member.id
    assert events[-1].org_id == tree.b1.id


async def test_refused_actions_leave_no_trace(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_c1.id)
    lock = await client.post(f"/api/v1/members/{tree.editor.id}/lock", headers=officer)
    assert lock.status_code == 403
    assert await _events(session) == []


async def test_a_reused_refresh_token_is_recorded_as_a_security_event(
    client: httpx.AsyncClient, tree: Tree, session: AsyncSession, sms: Any
) -> None:
    phone = tree.member.phone
    challenge = (await client.post("/api/v1/auth/otp/request", json={"phone": phone})).json()
    code = sms.sent[-1].text.split(": ")[1][:6]
    tokens = (
        await client.post(
            "/api/v1/auth/otp/verify",
            json={"challenge_id": challenge["challenge_id"], "code": code},
        )
    ).json()
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert_problem(reused, 401, "auth.refresh_reused")
    events = await _events(session)
    assert [(e.action, e.actor_id, e.target_id) for e in events] == [
        ("auth.refresh_reused", None, str(tree.member.id))
    ]


async def test_officers_read_the_log_of_their_subtree_only(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    root = await as_actor(tree.officer_root.id)
    await client.post(f"/api/v1/members/{tree.teacher.id}/lock", headers=root)  # B3, under C1
    await client.post(f"/api/v1/members/{tree.outsider.id}/lock", headers=root)  # B4, under C2
    c1_officer = await as_actor(tree.officer_c1.id)
    seen = await collect(client, f"/api/v1/orgs/{tree.c1.id}/audit", c1_officer)
    assert [(e["action"], e["target_id"]) for e in seen] == [("member.lock", str(tree.teacher.id))]
    assert seen[0]["actor"] == {"id": tree.officer_root.id, "full_name": "Đặng Quốc Khánh"}
    assert seen[0]["org"]["id"] == tree.b3.id
    everything = await collect(client, f"/api/v1/orgs/{tree.p.id}/audit", root)
    # Newest first.
    assert [e["target_id"] for e in everything] == [str(tree.outsider.id), str(tree.teacher.id)]


async def test_the_log_filters_by_action_actor_target_and_period(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    root = await as_actor(tree.officer_root.id)
    c1 = await as_actor(tree.officer_c1.id)
    await client.post(f"/api/v1/members/{tree.teacher.id}/lock", headers=root)
    await client.post(f"/api/v1/members/{tree.teacher.id}/unlock", headers=c1)
    grant_id = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.member_id == tree.secretary.id)
    )
    await client.delete(f"/api/v1/roles/{grant_id}", headers=c1)
    url = f"/api/v1/orgs/{tree.p.id}/audit"

    async def actions(**params: Any) -> list[str]:
        return [e["action"] for e in await collect(client, url, root, params)]

    assert await actions() == ["role.revoke", "member.unlock", "member.lock"]
    assert await actions(action="member.") == ["member.unlock", "member.lock"]
    assert await actions(action="member.lock") == ["member.lock"]
    assert await actions(actor_id=tree.officer_c1.id) == ["role.revoke", "member.unlock"]
    assert await actions(target_type="role_grant", target_id=str(grant_id)) == ["role.revoke"]
    events = await _events(session)
    middle = events[1].at.isoformat()
    assert await actions(since=middle) == ["role.revoke", "member.unlock"]
    assert await actions(until=middle) == ["member.lock"]
    assert await actions(since="2000-01-01T00:00:00+07:00", until="2000-01-02T00:00:00Z") == []
    numeric = await client.get(url, params={"since": "946684800"}, headers=root)
    assert numeric.status_code == 422
