"""Reorganising the tree at the canonical province (C1's id is a prefix of C2's): moves, merges,
dissolutions, the 2025 reform; every question about the past answers as before."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Article,
    AuditEvent,
    Document,
    DocumentRelay,
    DocumentStatus,
    Meeting,
    MeetingStatus,
    Member,
    Notice,
    Org,
    OrgKind,
    Quiz,
    Role,
    RoleGrant,
    Survey,
)
from app.models.base import utcnow
from app.resources import Resources
from app.services import history
from tests.conftest import ActorLogin
from tests.content_factories import make_article, make_document, make_meeting
from tests.factories import Tree, grant, make_member, make_org
from tests.http import assert_problem
from tests.study_factories import make_open_quiz


@pytest.fixture
def today(resources: Resources) -> date:
    return history.local_today(resources.settings.rules.timezone)


async def _paths(session: AsyncSession) -> dict[int, tuple[str, int, int | None, bool]]:
    rows = await session.execute(
        select(Org.id, Org.path, Org.depth, Org.parent_id, Org.is_active).execution_options(
            populate_existing=True
        )
    )
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


async def _member_path(session: AsyncSession, member_id: int) -> tuple[int, str]:
    row = (
        await session.execute(
            select(Member.branch_id, Member.org_path).where(Member.id == member_id)
        )
    ).one()
    return row[0], row[1]


async def _roll(session: AsyncSession, org_id: int, day: date) -> set[int]:
    lineage = await history.org_lineage_on(session, org_id, day)
    if lineage is None:
        return set()
    rows = await session.execute(history.members_on_query(lineage, day))
    return {r[0] for r in rows}


async def test_moving_a_subtree_rewrites_every_path_and_keeps_the_past(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    moved_on = today - timedelta(days=3)
    before = await _roll(session, tree.c1.id, moved_on - timedelta(days=1))
    response = await client.post(
        f"/api/v1/orgs/{tree.g1.id}/move",
        json={"parent_id": tree.c2.id, "effective_date": moved_on.isoformat()},
        headers=await as_actor(tree.officer_root.id),
    )
    assert response.status_code == 200, response.text
    assert response.json()["parent_id"] == tree.c2.id
    paths = await _paths(session)
    new_g1 = f"{tree.c2.path}{tree.g1.id}/"
    assert paths[tree.g1.id][:3] == (new_g1, 2, tree.c2.id)
    assert paths[tree.b3.id][:2] == (f"{new_g1}{tree.b3.id}/", 3)
    assert paths[tree.b1.id][0] == tree.b1.path  # the rest stays
    assert await _member_path(session, tree.teacher.id) == (tree.b3.id, f"{new_g1}{tree.b3.id}/")

    # The past answers as before; from the day, B3's members count in C2, not C1.
    assert await _roll(session, tree.c1.id, moved_on - timedelta(days=1)) == before
    assert tree.teacher.id in before
    assert tree.teacher.id not in await _roll(session, tree.c1.id, moved_on)
    assert tree.teacher.id in await _roll(session, tree.c2.id, moved_on)
    assert tree.teacher.id not in await _roll(session, tree.c2.id, moved_on - timedelta(1))
    # Scope follows the new paths at once: C1's officer no longer reaches B3, C2's side does.
    officer_c1 = await as_actor(tree.officer_c1.id)
    assert_problem(
        await client.get(f"/api/v1/members/{tree.teacher.id}", headers=officer_c1),
        404,
        "member.not_found",
    )
    assert (
        await client.get(f"/api/v1/members/{tree.member.id}", headers=officer_c1)
    ).status_code == 200
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "org.move"))
    assert event is not None
    assert event.detail is not None
    assert event.detail["to_path"] == new_g1


async def test_a_move_needs_org_management_at_both_ends_and_a_sane_parent(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer_c1 = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/orgs/{tree.g1.id}/move"
    assert_problem(
        await client.post(url, json={"parent_id": tree.c2.id}, headers=officer_c1),
        404,
        "org.not_found",
    )
    assert_problem(
        await client.post(
            url, json={"parent_id": tree.c2.id}, headers=await as_actor(tree.committee.id)
        ),
        403,
        "scope.forbidden",
    )
    root = await as_actor(tree.officer_root.id)
    assert_problem(
        await client.post(url, json={"parent_id": tree.b1.id}, headers=root),
        409,
        "org.parent_is_branch",
    )
    assert_problem(
        await client.post(
            f"/api/v1/orgs/{tree.c1.id}/move", json={"parent_id": tree.g1.id}, headers=root
        ),
        422,
        "org.move_into_itself",
    )
    assert_problem(
        await client.post(url, json={"parent_id": tree.c1.id}, headers=root),
        409,
        "org.same_parent",
    )
    assert (await _paths(session))[tree.g1.id][0] == tree.g1.path


async def test_merging_branches_moves_members_roles_and_keeps_history(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    await grant(session, tree.committee, tree.b2, Role.SECRETARY)
    await session.commit()
    merged_on = today - timedelta(days=1)
    response = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/merge",
        json={"into_id": tree.b1.id, "effective_date": merged_on.isoformat()},
        headers=await as_actor(tree.officer_root.id),
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == tree.b1.id
    assert (await _paths(session))[tree.b2.id][3] is False
    for member in (tree.officer_c1, tree.committee, tree.editor):
        assert await _member_path(session, member.id) == (tree.b1.id, tree.b1.path)
    before = await _roll(session, tree.b2.id, merged_on - timedelta(days=1))
    assert before == {tree.officer_c1.id, tree.committee.id, tree.editor.id}
    assert await _roll(session, tree.b2.id, merged_on) == set()
    assert before <= await _roll(session, tree.b1.id, merged_on)
    # The commune's count is the same on both sides of the merge.
    assert (await history.counts_as_of(session, tree.c1.id, merged_on)).total == (
        await history.counts_as_of(session, tree.c1.id, merged_on - timedelta(days=1))
    ).total
    grants = (
        await session.execute(
            select(RoleGrant.org_id, RoleGrant.revoked_at).where(
                RoleGrant.member_id == tree.committee.id, RoleGrant.role == Role.SECRETARY
            )
        )
    ).all()
    assert sorted((g[0], g[1] is None) for g in grants) == [(tree.b1.id, True), (tree.b2.id, False)]
    # A merged org takes no more members and cannot be merged or dissolved again.
    root = await as_actor(tree.officer_root.id)
    assert_problem(
        await client.post(
            f"/api/v1/members/{tree.member.id}/transfer",
            json={"branch_id": tree.b2.id},
            headers=root,
        ),
        409,
        "org.inactive",
    )
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.b2.id}/dissolve", json={}, headers=root),
        409,
        "org.inactive",
    )


async def test_merging_committees_moves_their_child_orgs(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    root = await as_actor(tree.officer_root.id)
    assert_problem(
        await client.post(
            f"/api/v1/orgs/{tree.b1.id}/merge", json={"into_id": tree.c2.id}, headers=root
        ),
        422,
        "org.merge_kind_mismatch",
    )
    response = await client.post(
        f"/api/v1/orgs/{tree.g1.id}/merge", json={"into_id": tree.c2.id}, headers=root
    )
    assert response.status_code == 200, response.text
    paths = await _paths(session)
    assert paths[tree.b3.id][:3] == (f"{tree.c2.path}{tree.b3.id}/", 2, tree.c2.id)
    assert paths[tree.g1.id][3] is False


async def test_only_an_empty_org_is_dissolved(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    root = await as_actor(tree.officer_root.id)
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.b2.id}/dissolve", json={}, headers=root),
        409,
        "org.not_empty",
    )
    assert_problem(
        await client.post(f"/api/v1/orgs/{tree.p.id}/dissolve", json={}, headers=root),
        409,
        "org.is_root",
    )
    empty = await make_org(session, tree.c1, name="Chi bộ Cũ")
    await session.commit()
    response = await client.post(f"/api/v1/orgs/{empty.id}/dissolve", json={}, headers=root)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert (await _paths(session))[empty.id][3] is False


async def test_the_2025_reform_keeps_every_past_answer_and_the_matrix(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    """Two provinces merge under a new root and the district level goes: its communes are
    re-parented to the province, every branch is kept."""
    other = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh Bên Cạnh")
    district = await make_org(session, other, kind=OrgKind.DISTRICT_COMMITTEE, name="Huyện ủy Cũ")
    commune = await make_org(session, district, kind=OrgKind.COMMUNE_COMMITTEE, name="Xã Mới")
    village = await make_org(session, commune, name="Chi bộ Thôn Tây")
    villagers = [await make_member(session, village, full_name=f"Lò Văn {n}") for n in "ABC"]
    new_root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Tỉnh ủy Hợp Nhất")
    # The deployment admin of both provinces (each ran its own tree until now).
    await grant(session, tree.admin, new_root, Role.DEPLOYMENT_ADMIN)
    await grant(session, tree.admin, other, Role.DEPLOYMENT_ADMIN)
    await session.commit()
    reform = today - timedelta(days=2)
    past = reform - timedelta(days=1)
    orgs = (tree.p, tree.c1, tree.c2, tree.g1, tree.b1, tree.b2, tree.b3, tree.b4)
    asked = (*orgs, other, district, commune, village)
    before = {org.id: await history.counts_as_of(session, org.id, past) for org in asked}
    assert before[district.id].total == 3

    admin = await as_actor(tree.admin.id)
    day = {"effective_date": reform.isoformat()}
    for moving in (tree.p, other):
        response = await client.post(
            f"/api/v1/orgs/{moving.id}/move", json={"parent_id": new_root.id, **day}, headers=admin
        )
        assert response.status_code == 200, response.text
    response = await client.post(
        f"/api/v1/orgs/{commune.id}/move", json={"parent_id": other.id, **day}, headers=admin
    )
    assert response.status_code == 200, response.text
    response = await client.post(f"/api/v1/orgs/{district.id}/dissolve", json=day, headers=admin)
    assert response.status_code == 200, response.text

    # Every past answer is unchanged.
    for org in asked:
        assert await history.counts_as_of(session, org.id, past) == before[org.id], org.name
    # After the reform: the district is gone, its members count in the province, every branch
    # is kept, and the new root counts both provinces.
    assert (await history.counts_as_of(session, district.id, today)).total == 0
    assert {m.id for m in villagers} <= await _roll(session, other.id, today)
    paths = await _paths(session)
    assert paths[village.id][0] == f"/{new_root.id}/{other.id}/{commune.id}/{village.id}/"
    assert paths[tree.b1.id][0] == f"/{new_root.id}{tree.b1.path}"
    assert all(paths[b.id][3] for b in (tree.b1, tree.b2, tree.b3, tree.b4, village))
    assert (await history.counts_as_of(session, new_root.id, today)).total == (
        before[tree.p.id].total + 3
    )
    assert (await history.counts_as_of(session, new_root.id, past)).total == 0
    # The authorization still holds on the moved tree (prefix-sharing C1/C2 included).
    officer_c1 = await as_actor(tree.officer_c1.id)
    assert (
        await client.get(f"/api/v1/members/{tree.member.id}", headers=officer_c1)
    ).status_code == 200
    assert_problem(
        await client.get(f"/api/v1/members/{tree.outsider.id}", headers=officer_c1),
        404,
        "member.not_found",
    )
    assert_problem(
        await client.get(f"/api/v1/members/{villagers[0].id}", headers=officer_c1),
        404,
        "member.not_found",
    )
    officer_root = await as_actor(tree.officer_root.id)
    assert (
        await client.get(f"/api/v1/members/{tree.outsider.id}", headers=officer_root)
    ).status_code == 200
    assert_problem(
        await client.get(f"/api/v1/members/{villagers[0].id}", headers=officer_root),
        404,
        "member.not_found",
    )


async def test_a_merge_moves_content_cancels_meetings_to_come_and_keeps_past_statistics(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    """B2 merges into B1: B1's members read what B2 published, its quiz and survey; B2's
    meetings to come are cancelled with a notice; last month's figures of B2, B1 and their
    commune are the same after the merge as before."""
    zone = ZoneInfo(resources.settings.rules.timezone)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=10)
    then = datetime.combine(last_month, time(9), tzinfo=zone)
    b2_members = [tree.officer_c1, tree.committee, tree.editor]
    document = await make_document(session, tree.b2, title="Nghị quyết Chi bộ 2", published_at=then)
    draft = await make_document(session, tree.b2, status=DocumentStatus.DRAFT)
    article = await make_article(session, tree.b2, published_at=then)
    await make_document(session, tree.b1, published_at=then)
    upper = await make_document(session, tree.c1, published_at=then)
    session.add(DocumentRelay(document_id=upper.id, org_id=tree.b2.id, note="Triển khai"))
    quiz, _ = await make_open_quiz(session, tree.b2)
    survey = Survey(
        org_id=tree.b2.id,
        title="Khảo sát Chi bộ 2",
        opens_at=utcnow() - timedelta(hours=1),
        closes_at=utcnow() + timedelta(days=3),
        is_anonymous=True,
    )
    session.add(survey)
    held = await make_meeting(
        session, tree.b2, MeetingStatus.CLOSED, starts_at=then, summoned=b2_members
    )
    await make_meeting(
        session, tree.b1, MeetingStatus.CLOSED, starts_at=then, summoned=[tree.member]
    )
    announced = await make_meeting(
        session,
        tree.b2,
        MeetingStatus.ANNOUNCED,
        starts_at=utcnow() + timedelta(days=2),
        summoned=b2_members,
    )
    planned = await make_meeting(
        session, tree.b2, MeetingStatus.DRAFT, starts_at=utcnow() + timedelta(days=5)
    )
    await session.commit()
    root = await as_actor(tree.officer_root.id)
    member = await as_actor(tree.member.id)
    readable = [
        f"/api/v1/documents/{document.id}",
        f"/api/v1/articles/{article.id}",
        f"/api/v1/quizzes/{quiz.id}",
        f"/api/v1/surveys/{survey.id}",
    ]
    for url in readable:
        assert (await client.get(url, headers=member)).status_code == 404, url

    async def stats(org: Org) -> dict[str, Any]:
        response = await client.get(
            f"/api/v1/orgs/{org.id}/stats",
            params={"period": "month", "from": last_month.isoformat()},
            headers=root,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        body.pop("computed_at")
        body.pop("as_of")  # when they were counted (live here: the rollup has not run)
        return body

    before = {org.id: await stats(org) for org in (tree.b2, tree.b1, tree.c1)}
    assert before[tree.b2.id]["content"]["documents_published"] == 1
    assert before[tree.b2.id]["content"]["articles_published"] == 1
    assert before[tree.b2.id]["meetings"]["held"] == 1
    assert before[tree.b1.id]["content"]["documents_published"] == 1

    response = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/merge", json={"into_id": tree.b1.id}, headers=root
    )
    assert response.status_code == 200, response.text

    assert {org.id: await stats(org) for org in (tree.b2, tree.b1, tree.c1)} == before
    for url in readable:
        assert (await client.get(url, headers=member)).status_code == 200, url
    moved = {
        row[0]: row[1:]
        for row in await session.execute(
            select(Document.id, Document.org_id, Document.origin_org_id).execution_options(
                populate_existing=True
            )
        )
    }
    assert moved[document.id] == (tree.b1.id, tree.b2.id)
    assert moved[draft.id] == (tree.b1.id, tree.b2.id)
    assert moved[upper.id] == (tree.c1.id, None)
    assert await session.scalar(select(Article.org_id).where(Article.id == article.id)) == (
        tree.b1.id
    )
    assert await session.scalar(select(Quiz.org_id).where(Quiz.id == quiz.id)) == tree.b1.id
    assert await session.scalar(select(Survey.org_id).where(Survey.id == survey.id)) == tree.b1.id
    assert await session.scalar(
        select(DocumentRelay.org_id).where(DocumentRelay.document_id == upper.id)
    ) == (tree.b1.id)
    meetings = {
        row[0]: row[1:]
        for row in await session.execute(
            select(Meeting.id, Meeting.org_id, Meeting.status, Meeting.cancel_reason)
        )
    }
    assert meetings[held.id] == (tree.b2.id, MeetingStatus.CLOSED, None)
    for meeting in (announced, planned):
        org_id, status, reason = meetings[meeting.id]
        assert (org_id, status) == (tree.b2.id, MeetingStatus.CANCELLED)
        assert reason == f"{tree.b2.name} đã sáp nhập vào {tree.b1.name}."
    notice = await session.scalar(
        select(Notice).where(Notice.title == f"Hủy lịch: {announced.title}")
    )
    assert notice is not None
    assert sorted(notice.audience_member_ids or []) == sorted(m.id for m in b2_members)
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "org.merge"))
    assert event is not None
    assert event.detail is not None
    assert {
        key: event.detail[key]
        for key in (
            "members_moved",
            "documents_moved",
            "articles_moved",
            "relays_moved",
            "quizzes_moved",
            "surveys_moved",
            "packets_moved",
            "meetings_cancelled",
        )
    } == {
        "members_moved": 3,
        "documents_moved": 2,
        "articles_moved": 1,
        "relays_moved": 1,
        "quizzes_moved": 1,
        "surveys_moved": 1,
        "packets_moved": 0,
        "meetings_cancelled": 2,
    }
