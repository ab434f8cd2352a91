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
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

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
        # Every path this route matches begins with the text before its first parameter.
        self.literal_prefix = self.path.split("{", 1)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # The app tries its routes in order: a string test turns the other areas' routes away
        # before FastAPI and Starlette build a match for them (a regular expression and dicts).
        if not scope.get("root_path") and not scope["path"].startswith(self.literal_prefix):
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
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


def operation_id(route: APIRoute) -> str:
    """An operation's id is its endpoint's name (`list_meetings`): stable, and unique because
    the OpenAPI test fails on a repeated one."""
    return route.name


def area_router(**kwargs: Any) -> APIRouter:
    """A router for one area: `area_router(prefix="/meetings", tags=["meetings"])`; installed
    by `app.api.router.install_routes`."""
    return APIRouter(route_class=HandbookRoute, generate_unique_id_function=operation_id, **kwargs)
