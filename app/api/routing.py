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

from app.services import idempotency as idempotency_service

# Marker on dependency callables that claim an idempotency key (see app.api.idempotency).
IDEMPOTENCY_MARK = "__handbook_idempotency__"


def _uses_idempotency(dependant: Dependant) -> bool:
    if getattr(dependant.call, IDEMPOTENCY_MARK, False):
        return True
    return any(_uses_idempotency(sub) for sub in dependant.dependencies)


class HandbookRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = kwargs.get("openapi_extra") or {}
        # The request body limit of this route, when it differs from the JSON default.
        self.max_body_bytes: int | None = extra.get("x-max-body-bytes")
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not _uses_idempotency(self.dependant):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            response = await handler(request)
            claim = getattr(request.state, "idempotency", None)
            if isinstance(claim, idempotency_service.Claim):
                # The unit of work (`get_session`) stores this with the write, before commit.
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


def area_router(**kwargs: Any) -> APIRouter:
    """A router for one area: `area_router(prefix="/meetings", tags=["meetings"])`."""
    return APIRouter(route_class=HandbookRoute, **kwargs)
