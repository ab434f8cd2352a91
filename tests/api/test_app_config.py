"""The apps' configuration: public to read, set by the deployment admin only, with If-Match."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem

CONFIG = {
    "deployment_name": "Sổ tay đảng viên Đảng bộ tỉnh Thử Nghiệm",
    "min_versions": {"ios": "1.4.0", "android": "1.3"},
    "support": {"phone": "024 3999 9999", "email": "hotro@tinhuy.vn", "hours": "Giờ hành chính"},
    "features": {"study": True, "surveys": False},
}


async def test_the_apps_read_defaults_without_logging_in(
    client: httpx.AsyncClient, tree: Tree
) -> None:
    response = await client.get("/api/v1/app-config")
    assert response.status_code == 200
    body = response.json()
    assert body["min_versions"] == {"ios": "0.0.0", "android": "0.0.0"}
    assert body["features"] == {}
    assert response.headers["ETag"] == '"v0"'
    assert response.headers["Cache-Control"] == "public, max-age=60"


async def test_the_deployment_admin_sets_it_and_it_is_audited(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    admin = await as_actor(tree.admin.id)
    first = await client.put(
        "/api/v1/app-config", json=CONFIG, headers={**admin, "If-Match": '"v0"'}
    )
    assert first.status_code == 200, first.text
    assert first.json()["support"]["phone"] == "024 3999 9999"
    read = await client.get("/api/v1/app-config")
    assert read.json()["deployment_name"] == CONFIG["deployment_name"]
    assert read.json()["min_versions"] == {"ios": "1.4.0", "android": "1.3"}
    assert read.headers["ETag"] == first.headers["ETag"] == '"v1"'
    stale = await client.put(
        "/api/v1/app-config",
        json={**CONFIG, "features": {}},
        headers={**admin, "If-Match": '"v0"'},
    )
    assert_problem(stale, 412, "resource.etag_mismatch")
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "deployment.app_config")
    )
    assert event is not None
    assert event.actor_id == tree.admin.id
    assert event.org_id == tree.p.id
    assert event.changes is not None
    assert event.changes["min_versions"][1] == {"ios": "1.4.0", "android": "1.3"}


async def test_only_the_deployment_admin_sets_it(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    for who in (tree.officer_root, tree.member):
        refused = await client.put(
            "/api/v1/app-config", json=CONFIG, headers=await as_actor(who.id)
        )
        assert_problem(refused, 403, "scope.forbidden")
    assert (await client.get("/api/v1/app-config")).json()["features"] == {}


async def test_bad_versions_and_feature_names_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    admin = await as_actor(tree.admin.id)
    for bad in (
        {**CONFIG, "min_versions": {"ios": "latest", "android": "1.0"}},
        {**CONFIG, "features": {"Bad Name": True}},
        {**CONFIG, "features": {"study": "yes"}},
        {**CONFIG, "support": {"email": "not-an-email"}},
    ):
        response = await client.put("/api/v1/app-config", json=bad, headers=admin)
        assert_problem(response, 422, "request.invalid")
