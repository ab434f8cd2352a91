"""`HandbookRoute.matches` turns paths away with string tests before the route's pattern: those
tests must never turn away a path the pattern matches, nor change what any route answers."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from app.api.routing import HandbookRoute, IndexedRouter
from app.main import create_app
from tests.conftest import make_settings


def _concrete(template: str, value: str) -> str:
    """The template with every parameter filled (`{x:path}` with a value holding a slash)."""
    return re.sub(
        r"\{(\w+)(:\w+)?\}", lambda m: "a/b" if m.group(2) == ":path" else value, template
    )


def test_the_string_tests_agree_with_every_routes_pattern() -> None:
    app = create_app(make_settings())
    routes = [r for r in app.router.routes if isinstance(r, HandbookRoute)]
    assert len(routes) > 150
    probes = {"/", "/api/v1", "/api/v1/", "/api/v1/orgs/1/leaderboard/x", "/api/v1/me/home/x"}
    for route in routes:
        for value in ("1", "42", "x"):
            path = _concrete(route.path, value)
            probes.update({path, path + "/", path.rstrip("/"), path + "/extra", "/x" + path})
    compared = 0
    for route in routes:
        for path in probes:
            for method in [*sorted(route.methods or ()), "DELETE"]:
                scope = {"type": "http", "path": path, "root_path": "", "method": method}
                fast, fast_child = route.matches(dict(scope))
                full, full_child = APIRoute.matches(route, dict(scope))
                assert fast == full, (route.path, path, method)
                if full != Match.NONE:
                    assert fast_child == full_child
                compared += 1
    assert compared > 100_000


def test_the_index_finds_the_route_the_full_walk_finds() -> None:
    """For every probe path and method, the first route matched in full among the path's
    candidates is the first one in the app's whole list (what FastAPI's walk would take)."""
    app = create_app(make_settings())
    router = app.router
    assert isinstance(router, IndexedRouter)
    probes = {"/", "/healthz", "/docs", "/openapi.json", "/api/v1/nowhere/1"}
    for route in router.routes:
        template = getattr(route, "path", None)
        if isinstance(template, str):
            for value in ("1", "x"):
                path = _concrete(template, value)
                probes.update({path, path + "/", path + "/extra"})
    found = 0
    for path in sorted(probes):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}

            def first(routes: list[BaseRoute], scope: dict[str, str] = scope) -> BaseRoute | None:
                for route in routes:
                    if route.matches(dict(scope))[0] == Match.FULL:
                        return route
                return None

            expected = first(router.routes)
            assert first(router._candidates(path)) is expected, (path, method)
            found += expected is not None
    assert found > 150


async def test_unknown_paths_and_methods_still_get_fastapis_answers(
    client: httpx.AsyncClient,
) -> None:
    """What the index does not match in full takes FastAPI's own walk: 404, 405, redirects."""
    missing = await client.get("/api/v1/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "route.not_found")
    wrong = await client.delete("/api/v1/me/home")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "route.method_not_allowed")
    for path in ("/api/v1/me/home", "/api/v1/orgs/1", "/healthz"):
        response = await client.get(path + "/", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith(path)


async def test_requests_take_the_index(
    monkeypatch: pytest.MonkeyPatch, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A request goes through `IndexedRouter.app` (Starlette's router calls a method it bound
    when it was built, which `install_routes` binds again): a route late in the app's list is
    found after trying only its own area's routes, not the ~110 ahead of it."""
    path = "/api/v1/me/meetings"
    router = app.router
    assert isinstance(router, IndexedRouter)
    candidates = router._candidates(path)
    position = next(i for i, r in enumerate(router.routes) if getattr(r, "path", "") == path)
    assert len(candidates) < position
    tried: list[str] = []
    original = HandbookRoute.matches

    def counted(route: HandbookRoute, scope: Scope) -> tuple[Match, Scope]:
        tried.append(route.path)
        return original(route, scope)

    monkeypatch.setattr(HandbookRoute, "matches", counted)
    response = await client.get(path)
    assert response.status_code == 401  # found, and refused without a token
    assert tried[-1] == path
    assert len(tried) <= len(candidates)


async def test_routes_added_later_are_found() -> None:
    """The index is rebuilt when the routes change: a route added to the app, or to a router
    included as such, after requests built it."""
    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/v1/me/later")).status_code == 404
        app.add_api_route("/api/v1/me/later", lambda: {"later": True}, methods=["GET"])
        assert (await client.get("/api/v1/me/later")).json() == {"later": True}
        extra = APIRouter()
        app.include_router(extra, prefix="/api/v1/extra")
        extra.add_api_route("/late", lambda: {"late": True}, methods=["GET"])
        assert (await client.get("/api/v1/extra/late")).json() == {"late": True}


def test_a_path_tries_only_the_routes_of_its_shape() -> None:
    """The index keys routes by area, slashes and last segment: a ward's meetings (late among
    the 39 `/api/v1/orgs/` routes) is the first route tried for its path, and an id in the last
    segment tries only the routes whose last segment is a parameter."""
    app = create_app(make_settings())
    router = app.router
    assert isinstance(router, IndexedRouter)
    for path, template in (
        ("/api/v1/orgs/7/subtree-meetings", "/api/v1/orgs/{org_id}/subtree-meetings"),
        ("/api/v1/orgs/7/leaderboard/units", "/api/v1/orgs/{org_id}/leaderboard/units"),
    ):
        candidates = [getattr(r, "path", None) for r in router._candidates(path)]
        assert candidates[0] == template, candidates
    by_id = router._candidates("/api/v1/orgs/7")
    assert all(
        not isinstance(r, HandbookRoute) or r.path.rsplit("/", 1)[-1].startswith("{") for r in by_id
    )
    assert any(getattr(r, "path", None) == "/api/v1/orgs/{org_id}" for r in by_id)
