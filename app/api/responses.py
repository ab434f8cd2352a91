"""Response helpers shared by the routers: documented problems and pre-serialised JSON."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.schemas.common import Problem

_DESCRIPTIONS = {
    400: "Bad request (e.g. `pagination.invalid_cursor`).",
    401: "Missing, expired or invalid credentials (`auth.*`); carries `WWW-Authenticate`.",
    403: "Visible to you but not permitted (`scope.forbidden`) or refused (`auth.*`).",
    404: "Not found, or outside every scope you hold (existence is not revealed).",
    409: "Conflicts with existing data.",
    413: "Request body too large (`request.too_large`).",
    422: "Invalid input (`request.invalid` with `errors`, or a rule of the area).",
    429: "Too many requests; see `Retry-After`.",
    503: "A dependency is unavailable; retry later.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status documented as problem+json."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, "Error."),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def json_response(content: Any, status_code: int = 200) -> Response:
    """JSON bytes straight from orjson, for hot reads that skip response-model validation.

    The route still declares `response_model` for the contract; the schemathesis run checks
    that what is sent conforms to it.
    """
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
