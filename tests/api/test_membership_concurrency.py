"""Membership changes racing each other on committed data: the member row lock serialises them,
so a stale ETag loses (412) and a change that must happen once happens once. Real races on
PostgreSQL; on SQLite writers queue, so there the outcomes are checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from app.main import create_app
from app.models import Member, MembershipPeriod, Org, OrgKind, Role
from app.resources import Resources
from tests import dbs
from tests.conftest import FreshDatabase, make_settings
from tests.factories import grant, login_headers, make_member, make_org

CONCURRENCY = 10


@dataclass
class Live:
    client: httpx.AsyncClient
    resources: Resources
    member_id: int
    branches: tuple[int, int]
    officers: tuple[dict[str, str], dict[str, str]]
    orgs: dict[str, int]


@pytest.fixture
async def live(fresh_db: FreshDatabase) -> AsyncIterator[Live]:
    await dbs.migrate(fresh_db.engine)
    settings = make_settings(fresh_db.url)
    resources = Resources.build(settings)
    live_orgs: dict[str, int] = {}
    async with resources.db.write() as session:
        root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Tỉnh ủy Đua")
        commune = await make_org(
            session, root, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy xã Đua"
        )
        await make_org(session, root, kind=OrgKind.COMMUNE_COMMITTEE, name="Đảng ủy xã Đích")
        first = await make_org(session, commune, name="Chi bộ Một")
        second = await make_org(session, commune, name="Chi bộ Hai")
        member = await make_member(session, first, full_name="Nguyễn Văn Chuyển")
        officers = []
        for name in ("Trần Thị Cán", "Lê Văn Bộ"):
            officer = await make_member(session, second, full_name=name)
            await grant(session, officer, root, Role.ORGANISATION_OFFICER)
            officers.append(await login_headers(session, resources.auth.codec, officer.id))
        await session.commit()
        ids = (member.id, first.id, second.id)
        live_orgs["commune"] = commune.id
    app = create_app(settings, resources=resources)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Live(
            client,
            resources,
            ids[0],
            (ids[1], ids[2]),
            (officers[0], officers[1]),
            live_orgs,
        )
    await resources.aclose()


async def _periods(live: Live) -> list[MembershipPeriod]:
    async with live.resources.db.read() as session:
        rows = await session.scalars(
            select(MembershipPeriod)
            .where(MembershipPeriod.member_id == live.member_id)
            .order_by(MembershipPeriod.id)
        )
        return list(rows)


async def test_two_officers_with_one_stale_etag_one_wins(live: Live) -> None:
    url = f"/api/v1/members/{live.member_id}"
    etag = (await live.client.get(url, headers=live.officers[0])).headers["ETag"]
    responses = await asyncio.gather(
        *[
            live.client.post(
                f"{url}/transfer",
                json={"branch_id": live.branches[1]},
                headers={**live.officers[i % 2], "If-Match": etag},
            )
            for i in range(CONCURRENCY)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (CONCURRENCY - 1), [r.text for r in responses]
    periods = await _periods(live)
    assert [(p.org_id, p.valid_to is None) for p in periods] == [
        (live.branches[0], False),
        (live.branches[1], True),
    ]


async def test_an_exemption_is_set_once_under_concurrency(live: Live) -> None:
    url = f"/api/v1/members/{live.member_id}/exemption"
    responses = await asyncio.gather(
        *[
            live.client.post(url, json={"decision_ref": f"{i}-QĐ/ĐU"}, headers=live.officers[i % 2])
            for i in range(CONCURRENCY)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (CONCURRENCY - 1)
    assert all(
        r.json()["code"] == "membership.already_exempt" for r in responses if r.status_code == 409
    )
    open_periods = [p for p in await _periods(live) if p.valid_to is None]
    assert len(open_periods) == 1
    assert open_periods[0].is_exempt is True


async def test_a_move_racing_a_member_edit_in_the_moved_subtree(live: Live) -> None:
    """Both succeed in some order; the member row ends with the moved branch's path, whatever
    the order (the move rewrites the copy under row locks, the edit re-reads under its own)."""
    async with live.resources.db.read() as session:
        target = await session.scalar(select(Org.id).where(Org.name == "Đảng ủy xã Đích"))
    assert target is not None
    move = live.client.post(
        f"/api/v1/orgs/{live.orgs['commune']}/move",
        json={"parent_id": target},
        headers=live.officers[0],
    )
    edits = [
        live.client.patch(
            f"/api/v1/members/{live.member_id}",
            json={"full_name": f"Nguyễn Văn Sửa {n}"},
            headers=live.officers[1],
        )
        for n in range(3)
    ]
    responses = await asyncio.gather(move, *edits)
    assert [r.status_code for r in responses] == [200, 200, 200, 200], [r.text for r in responses]
    async with live.resources.db.read() as session:
        branch_path = await session.scalar(select(Org.path).where(Org.id == live.branches[0]))
        member = await session.get(Member, live.member_id)
    assert member is not None
    assert branch_path is not None
    assert f"/{target}/{live.orgs['commune']}/" in branch_path
    assert member.org_path == branch_path
    assert member.full_name.startswith("Nguyễn Văn Sửa")
