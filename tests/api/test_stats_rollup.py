"""The statistics rollup: after the worker's refresh, month, quarter and year statistics are
summed from it and equal the live figures (on the canonical tree and on a generated province);
before it, and for custom periods, they are live; a backdated change marks a closed period
stale and the next refresh counts it again. The statistics targets are deployment rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bench import dataset as bench_dataset
from app.core.config import RulesSettings, WorkerSettings
from app.core.db import Database
from app.models import StatsBranchRollup, StatsRollup, StatsRollupPeriod
from app.models.base import utcnow
from app.models.meeting import MeetingRating
from app.resources import Resources
from app.schemas.stats import PeriodKind
from app.services import history, jobs, province, seed, stats, stats_rollup
from app.services.rules import StatsTargets
from app.worker.handlers.stats import ROLLUP_JOB
from tests import dbs
from tests.api.test_stats import _activity, _data, _meeting
from tests.conftest import ActorLogin, FreshDatabase
from tests.factories import Tree
from tests.imports_helpers import run_jobs

TARGETS = StatsTargets(0.95, 0.9, 1.0, 0.8)
VOLATILE = ("computed_at", "as_of", "source")


@pytest.fixture
def today(resources: Resources) -> date:
    return history.local_today(resources.settings.rules.timezone)


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in VOLATILE}


async def _this_month(session: AsyncSession, tree: Tree, today: date) -> None:
    for member in (tree.member, tree.teacher):
        await _activity(session, member.id, today)
    await _meeting(
        session,
        tree,
        today,
        present=(tree.member.id,),
        absent=(tree.deputy.id,),
        rating=MeetingRating.FAIR,
    )
    await session.commit()


async def _refresh(session: AsyncSession) -> None:
    """Run the recurring refresh job now, as the worker would."""
    await jobs.schedule(
        session, f"recurring:{ROLLUP_JOB}", ROLLUP_JOB, {}, run_at=datetime.now(UTC)
    )
    await session.commit()


async def _stats(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int, **params: str
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orgs/{org_id}/stats", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_after_the_refresh_job_periods_are_summed_from_the_rollup_and_equal_live(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    last_month = today.replace(day=1) - timedelta(days=10)
    await _data(session, tree, last_month)
    await _this_month(session, tree, today)
    root = await as_actor(tree.officer_root.id)
    asks = [
        (org_id, {"period": kind, "from": day.isoformat()})
        for org_id in (tree.p.id, tree.c1.id, tree.c2.id, tree.b1.id)
        for kind in ("month", "quarter", "year")
        for day in (today, last_month)
    ]
    live = {}
    for org_id, params in asks:
        body = await _stats(client, root, org_id, **params)
        assert body["source"] == "live"  # nothing rolled up yet
        live[org_id, tuple(params.items())] = _figures(body)
    children = (await client.get(f"/api/v1/orgs/{tree.p.id}/stats/children", headers=root)).json()
    assert children["source"] == "live"

    for _ in range(3):  # a few closed periods a run: enough runs for last month's year too
        await _refresh(session)
        assert await run_jobs(resources) >= 1
    counted = (await session.scalars(select(StatsRollupPeriod))).all()
    assert {(s.period_kind, s.period_start) for s in counted} >= {
        ("month", today.replace(day=1)),
        ("month", last_month.replace(day=1)),
        ("year", date(today.year, 1, 1)),
    }

    for org_id, params in asks:
        body = await _stats(client, root, org_id, **params)
        assert body["source"] == "rollup", (org_id, params)
        assert _figures(body) == live[org_id, tuple(params.items())], (org_id, params)
    month = await _stats(client, root, tree.p.id, period="month")
    assert month["members"]["eligible"] == 12
    assert month["meetings"]["held"] == 1
    state = next(
        s for s in counted if (s.period_kind, s.period_start) == ("month", today.replace(day=1))
    )
    assert datetime.fromisoformat(month["as_of"]) == state.refreshed_at
    rolled = (await client.get(f"/api/v1/orgs/{tree.p.id}/stats/children", headers=root)).json()
    assert rolled["source"] == "rollup"
    assert [_figures(i) for i in rolled["items"]] == [_figures(i) for i in children["items"]]
    # Custom periods stay live.
    custom = await _stats(
        client,
        root,
        tree.p.id,
        period="custom",
        **{"from": today.replace(day=1).isoformat(), "to": today.isoformat()},
    )
    assert custom["source"] == "live"
    assert custom["members"] == month["members"]


async def _signals(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int, **params: str
) -> tuple[list[dict[str, Any]], set[str]]:
    """Every page of the org's branch signals; the items and the sources that answered."""
    items: list[dict[str, Any]] = []
    sources: set[str] = set()
    cursor: str | None = None
    while True:
        query = {**params, "limit": "1", **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/api/v1/orgs/{org_id}/stats/branches", params=query, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) >= {"as_of", "source", "computed_at"}
        sources.add(body["source"])
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items, sources


async def test_branch_signals_come_from_the_rollup_after_the_refresh_and_equal_live(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    last_month = today.replace(day=1) - timedelta(days=10)
    await _data(session, tree, last_month)
    await _this_month(session, tree, today)
    root = await as_actor(tree.officer_root.id)
    asks = [
        (org_id, {"period": kind, "from": day.isoformat(), "attention": attention})
        for org_id in (tree.p.id, tree.c1.id, tree.b1.id)
        for kind in ("month", "quarter", "year")
        for day in (today, last_month)
        for attention in ("false", "true")
    ]
    live = {}
    for org_id, params in asks:
        items, sources = await _signals(client, root, org_id, **params)
        assert sources == {"live"}
        live[org_id, tuple(params.items())] = items
    this_month = (("period", "month"), ("from", today.isoformat()), ("attention", "false"))
    month = live[tree.p.id, this_month]
    b1 = next(i for i in month if i["org_id"] == tree.b1.id)
    # This month: one held meeting, one of two present, no minutes.
    assert (b1["held"], b1["attendance_rate"]) == (1, 0.5)
    assert b1["reasons"] == ["low_attendance", "minutes_missing"]

    for _ in range(3):
        await _refresh(session)
        assert await run_jobs(resources) >= 1
    for org_id, params in asks:
        items, sources = await _signals(client, root, org_id, **params)
        assert sources == {"rollup"}, (org_id, params)
        assert items == live[org_id, tuple(params.items())], (org_id, params)

    # Counted with other rules (a deployment that changed RULES__STATS_*): answered live until
    # the next refresh counts them again.
    await session.execute(
        update(StatsRollupPeriod)
        .where(StatsRollupPeriod.period_start == today.replace(day=1))
        .values(signal_rules="agenda=9d;minutes=1h;attendance=0.99;tz=UTC")
    )
    await session.commit()
    items, sources = await _signals(client, root, tree.p.id, period="month")
    assert sources == {"live"}
    assert items == month
    await _refresh(session)
    await run_jobs(resources)
    items, sources = await _signals(client, root, tree.p.id, period="month")
    assert (sources, items) == ({"rollup"}, month)
    # Custom periods stay live.
    _items, sources = await _signals(
        client,
        root,
        tree.p.id,
        period="custom",
        **{"from": today.replace(day=1).isoformat(), "to": today.isoformat()},
    )
    assert sources == {"live"}


async def test_a_backdated_transfer_marks_a_closed_month_stale_until_the_next_refresh(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
    today: date,
) -> None:
    last_month = today.replace(day=1) - timedelta(days=10)
    await _data(session, tree, last_month)
    await _refresh(session)
    await run_jobs(resources)
    root = await as_actor(tree.officer_root.id)
    params = {"period": "month", "from": last_month.isoformat()}
    before = await _stats(client, root, tree.c2.id, **params)
    assert before["source"] == "rollup"
    assert before["members"]["eligible"] == 3

    moved = await client.post(
        f"/api/v1/members/{tree.member.id}/transfer",
        json={
            "branch_id": tree.b4.id,
            "effective_date": (last_month - timedelta(days=5)).isoformat(),
        },
        headers=root,
    )
    assert moved.status_code == 200, moved.text
    state = await session.scalar(
        select(StatsRollupPeriod)
        .where(
            StatsRollupPeriod.period_kind == "month",
            StatsRollupPeriod.period_start == last_month.replace(day=1),
        )
        .execution_options(populate_existing=True)
    )
    assert state is not None
    assert state.is_stale
    # Until the worker counts it again, the rollup answers as it was counted (its `as_of`).
    stale = await _stats(client, root, tree.c2.id, **params)
    assert (stale["source"], stale["members"]["eligible"]) == ("rollup", 3)

    await _refresh(session)
    await run_jobs(resources)
    after = await _stats(client, root, tree.c2.id, **params)
    assert after["source"] == "rollup"
    assert after["members"]["eligible"] == 4
    period = stats.resolve_period(PeriodKind.MONTH, last_month, None, today=today)
    live = await stats.figures(
        session,
        [(tree.c2.id, tree.c2.path)],
        period,
        resources.settings.rules,
        yearly_target=200,
        targets=TARGETS,
    )
    assert _figures(after) == {
        "org_id": tree.c2.id,
        "org_name": tree.c2.name,
        "period": {
            k: v.isoformat() if isinstance(v, date) else v for k, v in period.read().items()
        },
        **live[tree.c2.id],
    }


async def test_statistics_targets_are_deployment_rules_kept_when_an_edit_leaves_them_out(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, resources: Resources
) -> None:
    admin = await as_actor(tree.admin.id)
    rules = (await client.get("/api/v1/rules", headers=admin)).json()
    assert rules["stats_target_activation"] == resources.settings.rules.stats_target_activation
    body = {k: v for k, v in rules.items() if k != "version"}
    first = await client.put(
        "/api/v1/rules",
        json={**body, "stats_target_activation": 1, "stats_target_monthly_active": 0.95},
        headers={**admin, "If-Match": '"v0"'},
    )
    assert first.status_code == 200, first.text
    without = {k: v for k, v in body.items() if not k.startswith("stats_target_")}
    second = await client.put(
        "/api/v1/rules",
        json={**without, "study_points_target": 180},
        headers={**admin, "If-Match": '"v1"'},
    )
    assert second.status_code == 200, second.text
    assert second.json()["stats_target_activation"] == 1
    assert second.json()["stats_target_monthly_active"] == 0.95
    refused = await client.put(
        "/api/v1/rules",
        json={**without, "stats_target_study": 1.5},
        headers={**admin, "If-Match": '"v2"'},
    )
    assert refused.status_code == 422
    resources.app_config.clear()
    stats_body = await _stats(client, await as_actor(tree.officer_root.id), tree.p.id)
    targets = {t["metric"]: t["target"] for t in stats_body["targets"]}
    assert targets["activation_rate"] == 1
    assert targets["monthly_active_rate"] == 0.95
    assert stats_body["study"]["target_points"] == stats.target_points(
        stats.resolve_period(
            PeriodKind.MONTH,
            None,
            None,
            today=history.local_today(resources.settings.rules.timezone),
        ),
        180,
    )


async def test_on_a_generated_province_the_rollup_equals_the_live_figures(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    await dbs.migrate(engine, "upgrade", "head")
    await province.write(engine, 1_500)
    today = history.local_today("Asia/Ho_Chi_Minh")
    now = datetime.now(UTC)
    periods = stats_rollup.periods_back(today, 2)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        for period in periods:
            async with session.begin():
                await stats_rollup.refresh(
                    session,
                    period,
                    timezone="Asia/Ho_Chi_Minh",
                    yearly_target=200,
                    now=now,
                    signal_rules=stats.SignalRules.of(RulesSettings()),
                    frozen=not period.is_current,
                )
        rules = RulesSettings()
        for period in periods:
            root_id, root_path = (
                await session.execute(
                    select(stats._org.c.id, stats._org.c.path).where(
                        stats._org.c.parent_id.is_(None)
                    )
                )
            ).one()
            groups = [(root_id, root_path), *await stats.subtree_on(session, root_path, today)]
            live = await stats.figures(
                session, groups, period, rules, yearly_target=200, targets=TARGETS
            )
            served, freshness = await stats.figures_served(
                session, groups, period, rules, yearly_target=200, targets=TARGETS
            )
            assert freshness.source == "rollup"
            assert served == live, period
            assert live[root_id]["members"]["eligible"] > 1_000
            # The branch signals: every branch of the root and of each commune, from the
            # rollup and counted live, page by page with and without the attention filter.
            signal_rules = stats.SignalRules.of(rules)
            communes = [g for g in groups if g[1].count("/") == 3][:3]
            for org_id, lineage in [(root_id, root_path), *communes]:
                for attention in (False, True):
                    live_items = await stats._live_signals(
                        session,
                        org_id,
                        lineage,
                        period,
                        signal_rules,
                        attention_only=attention,
                        limit=100_000,
                        after=0,
                    )
                    served_items: list[dict[str, Any]] = []
                    cursor = None
                    while True:
                        page = await stats.branch_signals(
                            session,
                            org_id,
                            period,
                            rules,
                            attention_only=attention,
                            limit=100,
                            cursor=cursor,
                        )
                        assert page["source"] == "rollup"
                        served_items += page["items"]
                        cursor = page["next_cursor"]
                        if cursor is None:
                            break
                    assert served_items == live_items, (period, org_id, attention)
                    if org_id == root_id and not attention:
                        assert len(live_items) > 40
                        if period.kind is PeriodKind.YEAR:  # a year of meetings was seeded
                            assert sum(i["held"] for i in live_items) > 0
                            assert sum(i["with_votes"] for i in live_items) > 0


async def test_a_generated_province_is_seeded_with_its_rollup_and_the_bench_builds_a_missing_one(
    fresh_db: FreshDatabase,
) -> None:
    """`handbook seed --members N` (seed_generated) ends with one run of the refresh job, so the
    statistics and the branch signals answer from the rollup at once; a bench database seeded
    before the rollup existed gets it from the bench's preparation, once."""
    engine = fresh_db.engine
    await dbs.migrate(engine, "upgrade", "head")
    messages: list[str] = []
    await seed.seed_generated(engine, members=800, progress=messages.append)
    assert any(m.startswith("statistics rollup month:") for m in messages), messages
    rules = RulesSettings()
    db = Database.over(engine)
    assert not await stats_rollup.missing(db, rules, now=utcnow())
    today = history.local_today(rules.timezone)

    async def answers() -> tuple[str, str, bool]:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            root_id = await session.scalar(
                select(stats._org.c.id).where(stats._org.c.parent_id.is_(None))
            )
            assert root_id is not None
            period = stats.resolve_period(PeriodKind.MONTH, None, None, today=today)
            figures = await stats.org_stats(
                session, root_id, period, rules, yearly_target=200, targets=TARGETS
            )
            page = await stats.branch_signals(
                session, root_id, period, rules, attention_only=False, limit=20, cursor=None
            )
            return figures["source"], page["source"], bool(page["items"])

    assert await answers() == ("rollup", "rollup", True)

    # A province seeded before the rollup existed: the stats part's preparation builds it.
    async with engine.begin() as conn:
        for table in (StatsBranchRollup, StatsRollup, StatsRollupPeriod):
            await conn.execute(delete(table))
    assert await stats_rollup.missing(db, rules, now=utcnow())
    assert (await answers())[:2] == ("live", "live")
    if fresh_db.kind == "postgresql":
        prepared = await bench_dataset.prepare(fresh_db.plain_url, members=800, rollup=True)
        assert prepared.rollup_seconds is not None
        again = await bench_dataset.prepare(fresh_db.plain_url, members=800, rollup=True)
        assert again.rollup_seconds is None  # there already: not counted again
    else:  # the bench runs on PostgreSQL only; the same build on SQLite
        await seed.build_rollup(engine, rules, WorkerSettings())
    assert not await stats_rollup.missing(db, rules, now=utcnow())
    assert await answers() == ("rollup", "rollup", True)
