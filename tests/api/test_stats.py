"""Statistics on the canonical province with known answers, and a past period that stays the
same after a transfer, a move and a merge.

Eligible members of the canonical tree: B1 4 (member, secretary, deputy, probationary; the
exempt one is not), B2 3, B3 2 (under G1), B4 3; C1 9, C2 3, P 12.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Document,
    Meeting,
    MeetingAttendee,
    MemberActivity,
    PointEntry,
)
from app.models.meeting import Attendance, MeetingRating, MeetingStatus
from app.resources import Resources
from app.schemas.stats import PeriodKind
from app.services import history
from app.services import stats as stats_service
from app.services.rules import StatsTargets
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem
from tests.imports_helpers import download, run_jobs, sheet_rows


@pytest.fixture
def today(resources: Resources) -> date:
    return history.local_today(resources.settings.rules.timezone)


def _at(day: date, hour: int = 19) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).astimezone(UTC)


async def _activity(session: AsyncSession, member_id: int, day: date) -> None:
    session.add(
        MemberActivity(
            member_id=member_id,
            month=day.replace(day=1),
            first_seen_at=_at(day),
            last_seen_at=_at(day),
            logins=1,
        )
    )


async def _meeting(
    session: AsyncSession,
    tree: Tree,
    day: date,
    *,
    status: MeetingStatus = MeetingStatus.CLOSED,
    present: tuple[int, ...] = (),
    absent: tuple[int, ...] = (),
    rating: MeetingRating | None = None,
    minutes: bool = False,
) -> Meeting:
    meeting = Meeting(
        org_id=tree.b1.id,
        kind="regular",
        status=status,
        title="Sinh hoạt chi bộ định kỳ",
        starts_at=_at(day),
        ends_at=_at(day, 21),
        qr_secret=secrets.token_hex(16),
        agenda=[],
        rating=rating,
        upper_rating=rating,
        announced_at=_at(day - timedelta(days=5)),
        minutes_text="Biên bản" if minutes else None,
        minutes_at=_at(day, 22) if minutes else None,
        closed_at=_at(day, 21) if status == MeetingStatus.CLOSED else None,
    )
    session.add(meeting)
    await session.flush()
    for member_id, attendance in [(m, Attendance.PRESENT) for m in present] + [
        (m, Attendance.ABSENT) for m in absent
    ]:
        session.add(
            MeetingAttendee(
                meeting_id=meeting.id,
                member_id=member_id,
                member_status="full",
                is_exempt=False,
                attendance=attendance,
            )
        )
    return meeting


async def _data(session: AsyncSession, tree: Tree, day: date) -> None:
    """In the period around `day`: activity, one held meeting and one planned, a document,
    points."""
    for member in (tree.member, tree.secretary, tree.officer_c1):
        await _activity(session, member.id, day)
    await _activity(session, tree.deputy.id, day - timedelta(days=40))  # activated earlier
    await _meeting(
        session,
        tree,
        day,
        present=(tree.member.id, tree.secretary.id, tree.deputy.id),
        absent=(tree.probationary.id,),
        rating=MeetingRating.GOOD,
        minutes=True,
    )
    await _meeting(session, tree, day + timedelta(days=1), status=MeetingStatus.ANNOUNCED)
    session.add(
        Document(
            org_id=tree.c1.id,
            type="resolution",
            title="Nghị quyết thử",
            title_folded="nghi quyet thu",
            status="published",
            published_at=_at(day, 9),
        )
    )
    for i, (member, points) in enumerate(((tree.member, 250), (tree.teacher, 3))):
        session.add(
            PointEntry(
                member_id=member.id,
                points=points,
                year=day.year,
                source="manual",
                source_key=f"test:{i}",
                reason="Thử",
                created_at=_at(day, 10),
            )
        )
    await session.commit()


def _query(start: date, end: date) -> dict[str, str]:
    return {"period": "custom", "from": start.isoformat(), "to": end.isoformat()}


async def test_org_stats_count_the_subtree_with_known_answers(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    day = today - timedelta(days=15)
    await _data(session, tree, day)
    start, end = day - timedelta(days=2), day + timedelta(days=5)
    response = await client.get(
        f"/api/v1/orgs/{tree.c1.id}/stats",
        params=_query(start, end),
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == {
        "kind": "custom",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "as_of": end.isoformat(),
    }
    members = body["members"]
    assert members["eligible"] == 9
    assert members["activated"] == 4  # member, secretary, officer_c1; deputy earlier
    assert members["activation_rate"] == round(4 / 9, 4)
    assert members["monthly_active"] == (3 if day.month == end.month else 0) + (
        1 if (day - timedelta(days=40)).replace(day=1) == end.replace(day=1) else 0
    )
    meetings = body["meetings"]
    assert meetings["branches"] == 3
    assert meetings["branches_meeting"] == 1
    assert meetings["branches_meeting_rate"] == round(1 / 3, 4)
    assert (meetings["planned"], meetings["held"], meetings["with_minutes"]) == (2, 1, 1)
    assert meetings["attendance_rate"] == 0.75
    assert meetings["ratings"] == {"good": 1, "fair": 0, "average": 0, "poor": 0, "unrated": 0}
    assert body["content"]["documents_published"] == 1
    assert body["content"]["articles_published"] == 0
    study = body["study"]
    assert study["points_total"] == 253
    assert study["target_points"] == stats_service.target_points(
        stats_service.Period(PeriodKind.CUSTOM, start, end, end), 200
    )
    assert study["reaching_target"] == 1
    assert study["points_average"] == round(253 / 9, 2)
    targets = {t["metric"]: t for t in body["targets"]}
    assert targets["activation_rate"]["met"] is False
    assert targets["activation_rate"]["target"] == 0.95

    # C2 has none of it; the province has all of it.
    root = await as_actor(tree.officer_root.id)
    c2 = (
        await client.get(
            f"/api/v1/orgs/{tree.c2.id}/stats", params=_query(start, end), headers=root
        )
    ).json()
    assert c2["members"]["eligible"] == 3
    assert c2["meetings"]["held"] == 0
    assert c2["members"]["activation_rate"] == 0
    p = (
        await client.get(f"/api/v1/orgs/{tree.p.id}/stats", params=_query(start, end), headers=root)
    ).json()
    assert p["members"]["eligible"] == 12
    assert p["meetings"]["branches"] == 4


async def test_children_are_one_row_each_sorted_with_targets(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    day = today - timedelta(days=15)
    await _data(session, tree, day)
    response = await client.get(
        f"/api/v1/orgs/{tree.c1.id}/stats/children",
        params={**_query(day, day), "sort": "eligible", "order": "desc"},
        headers=await as_actor(tree.committee.id),
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["org_id"], i["members"]["eligible"]) for i in items] == [
        (tree.b1.id, 4),
        (tree.b2.id, 3),
        (tree.g1.id, 2),
    ]
    assert items[0]["meetings"]["held"] == 1
    assert items[1]["members"]["activated"] == 1
    assert {t["metric"] for t in items[0]["targets"]} == {
        "activation_rate",
        "monthly_active_rate",
        "branches_meeting_rate",
        "target_share",
    }


async def test_a_past_period_stays_the_same_after_a_transfer_a_move_and_a_merge(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    day = today - timedelta(days=20)
    await _data(session, tree, day)
    root = await as_actor(tree.officer_root.id)
    params = _query(day - timedelta(days=1), day + timedelta(days=2))

    async def snapshot() -> tuple[Any, Any, Any]:
        c1 = await client.get(f"/api/v1/orgs/{tree.c1.id}/stats", params=params, headers=root)
        c2 = await client.get(f"/api/v1/orgs/{tree.c2.id}/stats", params=params, headers=root)
        kids = await client.get(
            f"/api/v1/orgs/{tree.c1.id}/stats/children", params=params, headers=root
        )
        assert c1.status_code == c2.status_code == kids.status_code == 200, kids.text

        def strip(body: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in body.items() if k not in ("computed_at", "as_of")}

        return strip(c1.json()), strip(c2.json()), strip(kids.json())

    before = await snapshot()
    effective = (today - timedelta(days=5)).isoformat()
    transfer = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={"branch_id": tree.b4.id, "effective_date": effective},
        headers=root,
    )
    assert transfer.status_code == 200, transfer.text
    move = await client.post(
        f"/api/v1/orgs/{tree.g1.id}/move",
        json={"parent_id": tree.c2.id, "effective_date": effective},
        headers=root,
    )
    assert move.status_code == 200, move.text
    merge = await client.post(
        f"/api/v1/orgs/{tree.b2.id}/merge",
        json={"into_id": tree.b1.id, "effective_date": effective},
        headers=root,
    )
    assert merge.status_code == 200, merge.text
    assert await snapshot() == before

    # This month's figures follow the new tree: B2 merged into B1, G1 under C2.
    now = (
        await client.get(
            f"/api/v1/orgs/{tree.c1.id}/stats/children",
            params={"period": "custom", "from": effective, "to": today.isoformat()},
            headers=root,
        )
    ).json()
    assert [(i["org_id"], i["members"]["eligible"]) for i in now["items"]] == [(tree.b1.id, 6)]
    # The merged branch has figures for the past only.
    assert_problem(
        await client.get(
            f"/api/v1/orgs/{tree.b2.id}/stats", params={"period": "month"}, headers=root
        ),
        404,
        "stats.org_not_in_period",
    )


async def test_periods_resolve_and_bad_ones_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, today: date
) -> None:
    resolve = stats_service.resolve_period
    period = resolve(PeriodKind.QUARTER, date(2025, 8, 17), None, today=today)
    assert (period.start, period.end) == (date(2025, 7, 1), date(2025, 9, 30))
    assert period.as_of == date(2025, 9, 30)
    period = resolve(PeriodKind.YEAR, None, None, today=today)
    assert (period.start, period.end, period.as_of) == (
        date(today.year, 1, 1),
        date(today.year, 12, 31),
        today,
    )
    month = resolve(PeriodKind.MONTH, date(2024, 2, 10), None, today=today)
    assert (month.start, month.end) == (date(2024, 2, 1), date(2024, 2, 29))
    headers = await as_actor(tree.officer_root.id)
    url = f"/api/v1/orgs/{tree.p.id}/stats"
    for params in (
        {"period": "custom", "from": "2025-01-01"},
        {"period": "custom", "from": "2025-02-01", "to": "2025-01-01"},
        {"period": "custom", "from": "2024-01-01", "to": "2025-12-31"},
        {"period": "month", "from": "2025-01-01", "to": "2025-01-31"},
        {"period": "year", "from": (today + timedelta(days=400)).isoformat()},
    ):
        response = await client.get(url, params=params, headers=headers)
        assert_problem(response, 422, "stats.bad_period")


async def test_branch_signals_and_the_branches_that_need_attention(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    today: date,
) -> None:
    day = today - timedelta(days=15)
    await _data(session, tree, day)
    headers = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/orgs/{tree.c1.id}/stats/branches"
    response = await client.get(url, params=_query(day, day + timedelta(days=3)), headers=headers)
    assert response.status_code == 200, response.text
    items = {i["org_id"]: i for i in response.json()["items"]}
    assert set(items) == {tree.b1.id, tree.b2.id, tree.b3.id}
    b1 = items[tree.b1.id]
    assert {k: b1[k] for k in ("planned", "held", "agenda_on_time", "minutes_on_time")} == {
        "planned": 2,
        "held": 1,
        "agenda_on_time": 1,
        "minutes_on_time": 1,
    }
    assert (b1["attendance_rate"], b1["with_votes"], b1["with_documents"]) == (0.75, 0, 0)
    assert (b1["rated_by_upper"], b1["rated_lower_above"]) == (1, 0)
    assert b1["needs_attention"] is False
    assert items[tree.b2.id]["reasons"] == ["no_meeting"]

    attention = await client.get(
        url, params={**_query(day, day), "attention": "true", "limit": 1}, headers=headers
    )
    body = attention.json()
    assert [i["org_id"] for i in body["items"]] == [tree.b2.id]
    more = await client.get(
        url,
        params={**_query(day, day), "attention": "true", "cursor": body["next_cursor"]},
        headers=headers,
    )
    assert [i["org_id"] for i in more.json()["items"]] == [tree.b3.id]
    assert more.json()["next_cursor"] is None


async def test_the_progress_report_is_built_by_the_worker_with_a_sheet_per_level(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    day = today - timedelta(days=15)
    await _data(session, tree, day)
    headers = await as_actor(tree.officer_root.id)
    created = await client.post(
        f"/api/v1/orgs/{tree.p.id}/stats/reports",
        json={"period": "custom", "from": day.isoformat(), "to": day.isoformat()},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    assert await run_jobs(resources) >= 1
    url = f"/api/v1/stats/reports/{created.json()['id']}"
    report = (await client.get(url, headers=headers)).json()
    assert report["status"] == "done", report
    data = await download(client, report["download"]["url"])
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["Tổng hợp", "Cấp 1", "Cấp 2", "Cấp 3", "Chi bộ cần chú ý"]
    summary = sheet_rows(data, "Tổng hợp")
    assert summary[0] == ["Báo cáo tiến độ: Đảng bộ tỉnh Thử Nghiệm"]
    assert summary[2] == ["Chỉ số", "Giá trị", "Chỉ tiêu", "Đạt"]
    by_name = {r[0]: r for r in summary[3:]}
    assert by_name["Đảng viên đủ điều kiện"][1] == 12
    assert by_name["Đã kích hoạt tài khoản"][1] == 4
    assert by_name["Tỷ lệ kích hoạt"][1:] == [round(4 / 12, 4), 0.95, "Chưa đạt"]
    assert by_name["Cuộc họp đã tổ chức"][1] == 1

    level1 = sheet_rows(data, "Cấp 1")
    header = level1[2]
    assert header[:3] == ["Đơn vị", "Loại", "Đảng viên đủ điều kiện"]
    assert header[-1] == "Chỉ tiêu chưa đạt"
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in level1[3:]}
    assert rows["Đảng ủy phường Hòa Bình"]["Đảng viên đủ điều kiện"] == 9
    assert rows["Đảng ủy phường Hòa Bình"]["Loại"] == "Đảng ủy xã, phường"
    assert rows["Đảng ủy xã Tân Lập"]["Đảng viên đủ điều kiện"] == 3
    assert rows["Đảng ủy xã Tân Lập"]["Chi bộ sinh hoạt trên ứng dụng"] == 0
    assert "Tỷ lệ kích hoạt" in rows["Đảng ủy xã Tân Lập"]["Chỉ tiêu chưa đạt"]
    assert rows["Toàn đảng bộ (tổng)"]["Đảng viên đủ điều kiện"] == 12
    assert rows["Chỉ tiêu"]["Tỷ lệ kích hoạt"] == 0.95
    level2 = {r[0]: r for r in sheet_rows(data, "Cấp 2")[3:]}
    assert set(level2) == {
        "Chi bộ Khu phố 1",
        "Chi bộ Khu phố 2",
        "Đảng bộ Trường học",
        "Chi bộ Thôn Đông",
        "Toàn đảng bộ (tổng)",
        "Chỉ tiêu",
    }
    assert level2["Chi bộ Khu phố 1"][2] == 4
    assert sheet_rows(data, "Cấp 3")[3][0] == "Chi bộ Giáo viên"
    # The branches that need attention: the API's list, with its signals and reasons.
    attention = sheet_rows(data, "Chi bộ cần chú ý")
    header = attention[2]
    assert header[:3] == ["Chi bộ", "Cuộc họp dự kiến", "Cuộc họp đã tổ chức"]
    assert header[-1] == "Lý do cần chú ý"
    listed = {r[0]: dict(zip(header, r, strict=True)) for r in attention[3:]}
    api = await client.get(
        f"/api/v1/orgs/{tree.p.id}/stats/branches",
        params={
            "period": "custom",
            "from": day.isoformat(),
            "to": day.isoformat(),
            "attention": "true",
        },
        headers=headers,
    )
    assert set(listed) == {i["org_name"] for i in api.json()["items"]}
    assert set(listed) == {"Chi bộ Khu phố 2", "Chi bộ Giáo viên", "Chi bộ Thôn Đông"}
    assert listed["Chi bộ Thôn Đông"]["Lý do cần chú ý"] == "Không sinh hoạt trên ứng dụng"
    assert listed["Chi bộ Thôn Đông"]["Cuộc họp đã tổ chức"] == 0


async def test_a_report_is_read_only_where_its_org_is_visible(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    created = await client.post(
        f"/api/v1/orgs/{tree.c2.id}/stats/reports",
        json={"period": "month"},
        headers=await as_actor(tree.officer_root.id),
    )
    assert created.status_code == 202, created.text
    url = f"/api/v1/stats/reports/{created.json()['id']}"
    assert_problem(
        await client.get(url, headers=await as_actor(tree.officer_c1.id)),
        404,
        "stats_report.not_found",
    )
    assert_problem(
        await client.post(
            f"/api/v1/orgs/{tree.b1.id}/stats/reports",
            json={"period": "custom", "from": "2025-01-01"},
            headers=await as_actor(tree.secretary.id),
        ),
        422,
        "stats.bad_period",
    )


async def test_a_running_period_counts_the_same_from_the_current_tree_as_from_history(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    await _data(session, tree, today)
    root = await as_actor(tree.officer_root.id)
    effective = (today - timedelta(days=2)).isoformat()
    for url, body in (
        (f"/api/v1/members/{tree.member.id}/transfer", {"branch_id": tree.b4.id}),
        (f"/api/v1/orgs/{tree.g1.id}/move", {"parent_id": tree.c2.id}),
        (f"/api/v1/orgs/{tree.b2.id}/merge", {"into_id": tree.b1.id}),
    ):
        response = await client.post(url, json={**body, "effective_date": effective}, headers=root)
        assert response.status_code == 200, response.text
    current = stats_service.resolve_period(PeriodKind.MONTH, None, None, today=today)
    assert current.is_current
    from_history = stats_service.Period(current.kind, current.start, current.end, today)
    groups = [(tree.p.id, tree.p.path), (tree.c1.id, tree.c1.path), (tree.c2.id, tree.c2.path)]
    rules = resources.settings.rules
    targets = StatsTargets(0.95, 0.9, 1.0, 0.8)
    assert await stats_service.figures(
        session, groups, current, rules, yearly_target=200, targets=targets
    ) == await stats_service.figures(
        session, groups, from_history, rules, yearly_target=200, targets=targets
    )
    c2 = (
        await stats_service.figures(
            session, groups, current, rules, yearly_target=200, targets=targets
        )
    )[tree.c2.id]
    assert c2["members"]["eligible"] == 3 + 1 + 2  # B4, the transferred member, B3 moved
