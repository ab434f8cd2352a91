"""The route class of every API router, and the request-level mechanisms it carries.

`area_router(...)` is how a router is made (`router = area_router(tags=["meetings"])`): its
routes are `HandbookRoute`s, which

- record the response of an `Idempotent` write so the unit of work can store it with the write
  (see `app.api.idempotency`), and
- carry a per-route request body limit (`max_body_bytes`, read by the request middleware), for
  uploads that exceed the JSON limit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import (  # the steps of `APIRouter.app` on a match, as it takes them
    APIRoute,
    _apply_router_form_limits,
    _update_scope,
)
from fastapi.telemetry._api import _route_selected
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send

from app.api.handler import planned_handler
from app.services import idempotency as idempotency_service

# Marker on dependency callables that claim an idempotency key (see app.api.idempotency).
IDEMPOTENCY_MARK = "__handbook_idempotency__"
# Marker on the dependencies that frame a unit of work (`get_session`, `get_lean_unit`).
UNIT_OF_WORK_MARK = "__handbook_unit_of_work__"


def solve_order(dependant: Dependant) -> list[Dependant]:
    """A route's dependencies in the order FastAPI runs them (each one's own first)."""
    order: list[Dependant] = []
    for sub in dependant.dependencies:
        order += solve_order(sub)
        order.append(sub)
    return order


def _uses_idempotency(dependant: Dependant) -> bool:
    """Whether the route claims idempotency keys; if so, its unit of work must be solved before
    the claim, which runs in that unit's transaction."""
    order = solve_order(dependant)
    claims = [i for i, d in enumerate(order) if getattr(d.call, IDEMPOTENCY_MARK, False)]
    if not claims:
        return False
    units = [i for i, d in enumerate(order) if getattr(d.call, UNIT_OF_WORK_MARK, False)]
    if not units or units[0] > claims[0]:
        raise TypeError(
            f"{dependant.call}: an `Idempotent` write needs its unit of work (`SessionDep` or "
            "`LeanUnitDep`) among its parameters before `Idempotent`"
        )
    return True


class HandbookRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = kwargs.get("openapi_extra") or {}
        # The request body limit of this route, when it differs from the JSON default.
        self.max_body_bytes: int | None = extra.get("x-max-body-bytes")
        super().__init__(path, endpoint, **kwargs)
        # What every path this route matches has, to turn the others away with string tests:
        # the text before its first parameter and after its last one, and (no parameter taking
        # a `/`) as many slashes as its template.
        self.literal_prefix = self.path.split("{", 1)[0]
        self.literal_suffix = self.path.rsplit("}", 1)[1] if "{" in self.path else ""
        self.exact = "{" not in self.path
        self.slashes = None if ":path}" in self.path else self.path.count("/")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # The app tries its routes in order (186 of them; 39 begin `/api/v1/orgs/`): string
        # tests turn the others away before FastAPI and Starlette build a match for them (a
        # regular expression and dicts). Each test is a condition of the route's pattern.
        if not scope.get("root_path"):
            path: str = scope["path"]
            if self.exact:
                if path != self.path:
                    return Match.NONE, {}
            elif (
                not path.startswith(self.literal_prefix)
                or not path.endswith(self.literal_suffix)
                or (self.slashes is not None and path.count("/") != self.slashes)
            ):
                return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI's handler, with the dependency tree planned once where it can be (`api.handler`).
        handler = planned_handler(self, super().get_route_handler())
        if not _uses_idempotency(self.dependant):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            response = await handler(request)
            claim = getattr(request.state, "idempotency", None)
            if isinstance(claim, idempotency_service.Claim):
                # The unit of work (`get_session`, `get_lean_unit`) stores this with the write,
                # before its commit.
                claim.response = idempotency_service.StoredResponse(
                    status_code=response.status_code,
                    body=bytes(response.body),
                    headers={
                        name: response.headers[name]
                        for name in idempotency_service.STORED_HEADERS
                        if name in response.headers
                    },
                )
            return response

        return idempotent_handler


def _area_key(path: str) -> str:
    """A path's first three segments (`/api/v1/orgs`): the key of the routes that may match it."""
    return "/".join(path.split("/", 4)[:4])


_ANY_LAST = "{"  # the key's last segment for a route whose last segment holds a parameter


def _path_key(path: str) -> tuple[str, int, str]:
    """A request path's key: its area, its slashes and its last segment."""
    return _area_key(path), path.count("/"), path.rsplit("/", 1)[-1]


def _route_key(route: BaseRoute) -> tuple[str, int, str] | None:
    """The key of the paths a route may match (its area, slashes and last segment, `_ANY_LAST`
    where that holds a parameter), or None for a route tried for every path: one that is not
    a `HandbookRoute`, or whose first segments or slashes vary (a parameter there, a `:path`)."""
    template = getattr(route, "path", None)
    if not isinstance(route, HandbookRoute) or not isinstance(template, str):
        return None
    area = _area_key(template)
    if "{" in area or route.slashes is None:
        return None
    last = template.rsplit("/", 1)[-1]
    return area, route.slashes, _ANY_LAST if "{" in last else last


class IndexedRouter(APIRouter):
    """The app's router (`install_routes` makes it so): a request tries only the routes that
    can match its area (first three segments), its number of slashes and its last segment, in
    their order, instead of every route ahead of its own: a route late in the list (the
    leaderboards, 150th) paid ~0.1 ms a request to be found, and one late among the 39
    `/api/v1/orgs/` routes (a ward's meetings) tried 23 of them. Routes whose first segments
    hold a parameter are tried for every path. Anything not matched in full there (a 404, a
    405, a slash redirect) takes FastAPI's own walk."""

    # (routes version, routes by key, the routes tried for every path, whether routers are
    # included as such), built on first use.
    _index: (
        tuple[object, dict[tuple[str, int, str], list[BaseRoute]], list[BaseRoute], bool] | None
    ) = None

    def _version(self, nested: bool) -> object:
        """What changes when the routes do: FastAPI's version walks every route for included
        routers (~3% of a read); without any, the router's own counter and its length say it."""
        own = self._get_routes_version() if nested else self._routes_version
        return (own, len(self.routes))

    def _candidates(self, path: str) -> list[BaseRoute]:
        index = self._index
        if index is None or index[0] != self._version(index[3]):
            keys = [(route, _route_key(route)) for route in self.routes]
            everywhere = [route for route, key in keys if key is None]
            buckets = {key for _, key in keys if key is not None}
            buckets |= {(area, slashes, _ANY_LAST) for area, slashes, _ in buckets}
            # Each bucket holds, in the app's order, every route that may match a path of its key.
            keyed = {
                bucket: [
                    route
                    for route, key in keys
                    if key is None or (key[:2] == bucket[:2] and key[2] in (_ANY_LAST, bucket[2]))
                ]
                for bucket in buckets
            }
            # A router included as such (FastAPI's `_IncludedRouter`) has routes of its own.
            nested = any(hasattr(route, "original_router") for route in self.routes)
            index = self._index = (self._version(nested), keyed, everywhere, nested)
        key = _path_key(path)
        keyed = index[1]
        found = keyed.get(key)
        if found is None:
            found = keyed.get((key[0], key[1], _ANY_LAST), index[2])
        return found

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self._candidates(scope["path"]):
                match, child_scope = route.matches(scope)
                if match == Match.FULL:
                    _apply_router_form_limits(scope, self.form_limits)
                    if "router" not in scope:
                        scope["router"] = self
                    _update_scope(scope, child_scope)
                    _route_selected(
                        scope=scope,
                        path=getattr(route, "path_format", None),
                        mount=isinstance(route, Mount),
                    )
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def operation_id(route: APIRoute) -> str:
    """An operation's id is its endpoint's name (`list_meetings`): stable, and unique because
    the OpenAPI test fails on a repeated one."""
    return route.name


def area_router(**kwargs: Any) -> APIRouter:
    """A router for one area: `area_router(prefix="/meetings", tags=["meetings"])`; installed
    by `app.api.router.install_routes`."""
    return APIRouter(route_class=HandbookRoute, generate_unique_id_function=operation_id, **kwargs)
