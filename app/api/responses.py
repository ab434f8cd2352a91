"""Helpers shared by the routers: documented problems, `ETag` and `If-Match`."""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Header
from fastapi.responses import Response

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.etag import IfMatch, etag
from app.schemas.common import Problem

_DESCRIPTIONS = {
    400: "Bad request (e.g. `pagination.invalid_cursor`).",
    401: "Missing, expired or invalid credentials (`auth.*`); carries `WWW-Authenticate`.",
    403: "Visible to you but not permitted (`scope.forbidden`) or refused (`auth.*`).",
    404: "Not found, or outside every scope you hold (existence is not revealed).",
    409: "Conflicts with existing data.",
    412: "`If-Match` names a version that is no longer current (`resource.etag_mismatch`).",
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


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def with_etag(response: Response, resource: V) -> V:
    """Set the `ETag` of an editable resource on the response; returns the resource."""
    response.headers["ETag"] = etag(resource.version)
    return resource


def with_etag_of(response: Response, resource: dict[str, Any]) -> dict[str, Any]:
    """`with_etag` for a resource read as a dict (its `version` key)."""
    response.headers["ETag"] = etag(int(resource["version"]))
    return resource


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=1024,
            description='The `ETag` you read (`"v7"`): the edit is refused with 412 if the '
            "resource changed since. Without it, the edit applies.",
        ),
    ] = None,
) -> IfMatch | None:
    return IfMatch.parse(if_match)


IfMatchDep = Annotated[IfMatch | None, Depends(_if_match)]
