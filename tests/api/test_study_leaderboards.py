"""Study leaderboards on the lean read path: pages through ties, other years, units without
children, ranks shared by equal points."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, PointSource
from app.resources import Resources
from app.schemas.common import Page
from app.schemas.study import RankedMember
from app.services import leaderboards, points
from app.services.auth import actor as actor_service
from app.services.auth.actor import ActorRows
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem, collect


async def _give(session: AsyncSession, member: Member, value: int, *, key: str = "") -> None:
    await points.award(
        session,
        member_id=member.id,
        points=value,
        source=PointSource.OPENING,
        source_key=f"opening:{member.id}{key}",
        reason="Số dư đầu kỳ",
    )


async def test_org_leaderboard_pages_through_equal_points_in_order(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    given = {
        tree.member: 30,
        tree.secretary: 30,
        tree.deputy: 30,
        tree.probationary: 20,
        tree.committee: 50,
        tree.teacher: 10,
        tree.outsider: 99,  # in C2: outside C1's subtree
    }
    for member, value in given.items():
        await _give(session, member, value)
    await session.commit()
    committee = await as_actor(tree.committee.id)
    url = f"/api/v1/orgs/{tree.c1.id}/leaderboard"
    expected = sorted(
        ((m.id, v) for m, v in given.items() if m is not tree.outsider),
        key=lambda item: (-item[1], item[0]),
    )
    for page_size in (1, 2, 4):
        items = await collect(client, url, committee, page_size=page_size)
        assert [(r["member_id"], r["points"]) for r in items] == expected
        assert {r["rank"] for r in items} == {0}
    # A branch's page (its members by the branch they name, not a path range).
    in_b1 = [
        (i, v)
        for i, v in expected
        if i in {tree.member.id, tree.secretary.id, tree.deputy.id, tree.probationary.id}
    ]
    branch_url = f"/api/v1/orgs/{tree.b1.id}/leaderboard"
    for page_size in (1, 2, 4):
        items = await collect(client, branch_url, committee, page_size=page_size)
        assert [(r["member_id"], r["points"]) for r in items] == in_b1
    # Written from plain values (`plain_json`): exactly what the documented model would write.
    page = (await client.get(url, params={"limit": 2}, headers=committee)).json()
    assert page["next_cursor"]
    assert Page[RankedMember].model_validate(page).model_dump(mode="json") == page
    names = {r["member_id"]: r["full_name"] for r in await collect(client, url, committee)}
    assert names[tree.committee.id] == tree.committee.full_name
    # Another year has no points yet: an empty page.
    empty = await client.get(url, params={"year": 2001}, headers=committee)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_my_rank_shares_ranks_between_equal_points(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    await _give(session, tree.secretary, 40)
    await _give(session, tree.member, 40)
    await _give(session, tree.deputy, 10)
    await _give(session, tree.deputy, -10, key=":correction")  # back to 0 points, still listed
    await session.commit()
    body = (
        await client.get("/api/v1/me/leaderboard", headers=await as_actor(tree.deputy.id))
    ).json()
    assert body["branch_id"] == tree.b1.id
    assert body["members"] == 5
    ranks = {n["member_id"]: (n["rank"], n["points"]) for n in body["neighbours"]}
    assert ranks[tree.secretary.id] == ranks[tree.member.id] == (1, 40)
    assert body["me"]["points"] == 0
    assert body["me"]["rank"] == 3  # after the two at 40, level with those without points
    assert body["me"] in body["neighbours"]
    top = (
        await client.get("/api/v1/me/leaderboard", headers=await as_actor(tree.member.id))
    ).json()
    assert top["me"]["rank"] == 1
    assert [n["rank"] for n in top["neighbours"]][:2] == [1, 1]
    other_year = await client.get(
        "/api/v1/me/leaderboard", params={"year": 2001}, headers=await as_actor(tree.member.id)
    )
    assert {n["points"] for n in other_year.json()["neighbours"]} == {0}
    assert {n["rank"] for n in other_year.json()["neighbours"]} == {1}


async def test_units_of_an_org_without_children_are_empty_counted_or_not(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    officer = await as_actor(tree.officer_root.id)
    url = f"/api/v1/orgs/{tree.b1.id}/leaderboard/units"
    live = await client.get(url, headers=officer)
    assert live.status_code == 200, live.text
    assert live.json()["items"] == []
    assert live.json()["as_of"] is None
    assert live.json()["org_id"] == tree.b1.id
    await _give(session, tree.member, 12)
    year = live.json()["year"]
    await leaderboards.refresh_unit_totals(session, year=year)
    await session.commit()
    counted = (await client.get(url, headers=officer)).json()
    assert counted["items"] == []
    assert counted["as_of"] is not None
    # The province's units from the totals: every child listed, C1 with B1's 12 points.
    province = (
        await client.get(f"/api/v1/orgs/{tree.p.id}/leaderboard/units", headers=officer)
    ).json()
    assert province["as_of"] is not None
    by_id = {u["org_id"]: u for u in province["items"]}
    assert set(by_id) == {tree.c1.id, tree.c2.id}
    assert by_id[tree.c1.id]["points"] == 12
    assert by_id[tree.c2.id]["points"] == 0
    assert province["items"][0]["org_id"] == tree.c1.id
    # A year the worker never counted is counted live.
    other = (
        await client.get(
            f"/api/v1/orgs/{tree.p.id}/leaderboard/units", params={"year": 2001}, headers=officer
        )
    ).json()
    assert other["as_of"] is None
    assert {u["org_id"] for u in other["items"]} == {tree.c1.id, tree.c2.id}
    assert {u["points"] for u in other["items"]} == {0}


async def test_my_rank_reads_the_ranking_again_for_a_year_the_actor_query_was_not_bound_to(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    await _give(session, tree.secretary, 40)
    await _give(session, tree.member, 20)
    await session.commit()
    headers = await as_actor(tree.member.id)
    answer = await client.get("/api/v1/me/leaderboard", headers=headers)
    assert answer.status_code == 200, answer.text
    year = answer.json()["year"]
    claims = resources.auth.codec.decode_access(headers["Authorization"].removeprefix("Bearer "))
    reader = resources.reader
    actor = await actor_service.load_actor(reader, claims)
    # Rows bound to another year are not used: the ranking of `year` is read on its own.
    stale = ActorRows(actor, rows=[], params={"year": year - 1})
    assert await leaderboards.my_rank(reader, stale, year=year) == answer.json()


async def test_my_rank_takes_the_year_as_the_route_validates_it(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.member.id)
    url = "/api/v1/me/leaderboard"
    plain = await client.get(url, params={"year": "2024"}, headers=headers)
    padded = await client.get(url, params={"year": "02024"}, headers=headers)
    assert plain.status_code == padded.status_code == 200, padded.text
    assert padded.json() == plain.json()
    assert plain.json()["year"] == 2024
    for bad in ("9" * 5000, "1999", "2101", "２０２４", "-2024", "abc"):
        response = await client.get(url, params={"year": bad}, headers=headers)
        assert_problem(response, 422, "request.invalid")
