"""Residence rights (sinh hoạt nơi cư trú): a member attached to the branch where they live reads
that branch's meetings and the content that reaches it, manages nothing there, and loses it all
from the request after the attachment ends."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import MeetingStatus
from app.models.base import utcnow
from app.services import access
from app.services.access import Permission
from tests.conftest import ActorLogin
from tests.content_factories import make_article, make_document, make_meeting
from tests.factories import Tree
from tests.http import assert_problem


async def test_a_residence_attachment_opens_the_branch_for_reading_only_while_it_lasts(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    # The member's branch is B1 (commune C1); they live in B4's area (commune C2).
    soon = utcnow() + timedelta(days=2)
    announced = await make_meeting(
        session, tree.b4, MeetingStatus.ANNOUNCED, starts_at=soon, summoned=[tree.outsider]
    )
    draft = await make_meeting(session, tree.b4, MeetingStatus.DRAFT, starts_at=soon)
    from_commune = await make_document(session, tree.c2, title="Kế hoạch của xã Tân Lập")
    from_branch = await make_document(session, tree.b4, title="Thông báo Chi bộ Thôn Đông")
    elsewhere = await make_document(session, tree.b3, title="Thông báo Chi bộ Giáo viên")
    article = await make_article(session, tree.b4, title="Tin Thôn Đông")
    await session.commit()
    me = await as_actor(tree.member.id)
    officer = await as_actor(tree.officer_root.id)
    reads = [
        f"/api/v1/meetings/{announced.id}",
        f"/api/v1/documents/{from_commune.id}",
        f"/api/v1/documents/{from_branch.id}",
        f"/api/v1/articles/{article.id}",
    ]
    for url in reads:
        assert (await client.get(url, headers=me)).status_code == 404, url

    attached = await client.put(
        f"/api/v1/members/{tree.member.id}/residence",
        json={"branch_id": tree.b4.id},
        headers=officer,
    )
    assert attached.status_code == 200, attached.text

    for url in reads:
        response = await client.get(url, headers=me)
        assert response.status_code == 200, (url, response.text)
    listed = await client.get(f"/api/v1/orgs/{tree.b4.id}/meetings", headers=me)
    assert listed.status_code == 200, listed.text
    assert [m["id"] for m in listed.json()["items"]] == [announced.id]
    # Not the branch's drafts, nor content that does not reach it.
    assert_problem(
        await client.get(f"/api/v1/meetings/{draft.id}", headers=me), 404, "meeting.not_found"
    )
    assert (await client.get(f"/api/v1/documents/{elsewhere.id}", headers=me)).status_code == 404
    # Reading only: no running the meeting, no taking part in it, no member list.
    assert_problem(
        await client.post(
            f"/api/v1/meetings/{announced.id}/cancel", json={"reason": "Thử"}, headers=me
        ),
        403,
        "scope.forbidden",
    )
    assert_problem(
        await client.post(
            f"/api/v1/meetings/{announced.id}/excuse", json={"reason": "Bận"}, headers=me
        ),
        403,
        "scope.forbidden",
    )
    assert_problem(
        await client.get(f"/api/v1/orgs/{tree.b4.id}/members", headers=me), 403, "scope.forbidden"
    )

    ended = await client.post(
        f"/api/v1/members/{tree.member.id}/residence/end", json={}, headers=officer
    )
    assert ended.status_code == 200, ended.text
    # The same access token: the next request no longer reaches the branch.
    for url in reads:
        assert (await client.get(url, headers=me)).status_code == 404, url


def test_the_residence_scope_holds_reading_permissions_only() -> None:
    assert access.RESIDENCE_PERMISSIONS <= access.MEMBERSHIP_PERMISSIONS
    assert not access.RESIDENCE_PERMISSIONS & access.DUTIES
    assert Permission.MEETING_ATTEND not in access.RESIDENCE_PERMISSIONS
    assert Permission.MEMBER_LIST not in access.RESIDENCE_PERMISSIONS
