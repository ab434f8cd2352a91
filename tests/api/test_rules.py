"""The deployment's rules: every member reads them, the deployment admin sets them (If-Match,
audited), and the areas read them typed through `rules.current`."""

from __future__ import annotations

from datetime import time

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.resources import Resources
from app.services import rules as rules_service
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem

RULES = {
    "quorum_ratio": 0.5,
    "pass_ratio": 0.6,
    "reminder_day_before_at": "07:30",
    "reminder_hours_before": 3,
    "absence_flag_after": 2,
    "study_points_target": 240,
    "study_points_document": 3,
    "study_points_meeting": 12,
    "study_points_quiz": 15,
    "study_points_document_daily_cap": 30,
    "study_points_manual_max": 50,
}


async def test_members_read_the_defaults_from_the_settings(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, resources: Resources
) -> None:
    response = await client.get("/api/v1/rules", headers=await as_actor(tree.member.id))
    assert response.status_code == 200, response.text
    body = response.json()
    defaults = resources.settings.rules
    assert body["quorum_ratio"] == defaults.quorum_ratio
    assert time.fromisoformat(body["reminder_day_before_at"]) == defaults.reminder_day_before_at
    assert body["study_points_target"] == defaults.study_points_target
    assert body["version"] == 0
    assert response.headers["ETag"] == '"v0"'
    assert_problem(await client.get("/api/v1/rules"), 401, "auth.unauthenticated")


async def test_the_deployment_admin_sets_them_audited_and_areas_see_them(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    resources: Resources,
) -> None:
    admin = await as_actor(tree.admin.id)
    first = await client.put("/api/v1/rules", json=RULES, headers={**admin, "If-Match": '"v0"'})
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"v1"'
    read = await client.get("/api/v1/rules", headers=await as_actor(tree.member.id))
    assert {k: read.json()[k] for k in RULES} == {**RULES, "reminder_day_before_at": "07:30:00"}
    stale = await client.put(
        "/api/v1/rules", json={**RULES, "pass_ratio": 0.7}, headers={**admin, "If-Match": '"v0"'}
    )
    assert_problem(stale, 412, "resource.etag_mismatch")
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "deployment.rules"))
    assert event is not None
    assert event.actor_id == tree.admin.id
    assert event.changes is not None
    assert event.changes["pass_ratio"][1] == 0.6
    resources.app_config.clear()
    typed = await rules_service.current(session, resources.app_config, resources.settings.rules)
    assert typed.pass_ratio == 0.6
    assert typed.reminder_day_before_at == time(7, 30)
    assert typed.version == 1
    assert (typed.study_points_meeting, typed.study_points_manual_max) == (12, 50)
    # What a write awards follows the rules in force at once (read past the process cache):
    # 60 points were within the RULES__ default (100) and are over the deployment's 50 now.
    officer = await as_actor(tree.officer_c1.id)
    url = f"/api/v1/members/{tree.member.id}/points"
    over = await client.post(url, json={"points": 60, "note": "Khen thưởng"}, headers=officer)
    body = assert_problem(over, 422, "points.out_of_range")
    assert "50 điểm" in body["detail"]
    within = await client.post(url, json={"points": 50, "note": "Khen thưởng"}, headers=officer)
    assert within.status_code == 201, within.text


async def test_only_the_deployment_admin_sets_them(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    for who in (tree.officer_root, tree.secretary):
        refused = await client.put("/api/v1/rules", json=RULES, headers=await as_actor(who.id))
        assert_problem(refused, 403, "scope.forbidden")
    read = await client.get("/api/v1/rules", headers=await as_actor(tree.member.id))
    assert read.json()["version"] == 0


async def test_bad_rules_are_refused_and_change_nothing(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    admin = await as_actor(tree.admin.id)
    for bad in (
        {**RULES, "quorum_ratio": 0},
        {**RULES, "quorum_ratio": 1.5},
        {**RULES, "pass_ratio": "0.5"},
        {**RULES, "reminder_day_before_at": "25:00"},
        {**RULES, "reminder_hours_before": 2.0},
        {**RULES, "absence_flag_after": 0},
        {**RULES, "surprise": True},
        {k: v for k, v in RULES.items() if k != "study_points_target"},
    ):
        refused = await client.put("/api/v1/rules", json=bad, headers=admin)
        assert_problem(refused, 422, "request.invalid")
    read = await client.get("/api/v1/rules", headers=admin)
    assert read.json()["version"] == 0
