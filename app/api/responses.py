"""Helpers shared by the routers: documented problems, `ETag` and `If-Match`.

A route declares the statuses it answers and the problem `code`s of its own rules, in one line:

    responses=problems(401, 422, codes={404: ["org.not_found"], 409: ["member.phone_taken"]})

Each documented response says what its codes mean on that operation: the status's lead line (or
the route's own, `descriptions={409: "…"}`) and one line per code from the registry in
`app.api.problem_meanings` (`scope.forbidden` names the permission the route's guard checks).

Codes that come with the machinery are added when the document is built (`app.api.openapi`):
those of the dependencies a route uses (the actor: `auth.*` 401s; an `ObjectScope` guard: its
404 code and `scope.forbidden`; any dependency marked with `@raises({...})`), `request.invalid`
on 422, `request.malformed` on 400 for a body, `request.too_large` on 413, `rate.limited` on 429
and `server.error` in the `default` response. `tests/test_problem_codes.py` fails when a test
observes a code the document does not list for that operation and status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Depends, Header
from fastapi.responses import Response

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.etag import IfMatch, etag
from app.schemas.common import Problem
from app.services.access import Permission

PROBLEM_DESCRIPTIONS = {
    400: "Bad request (e.g. `pagination.invalid_cursor`).",
    401: "Not signed in, or the credentials were refused; carries `WWW-Authenticate`.",
    403: "Refused: you may see this, but not do it.",
    404: "Not found, or outside every scope you hold (existence is not revealed).",
    409: "Refused by the current state of the data.",
    412: "`If-Match` names a version that is no longer current (`resource.etag_mismatch`).",
    413: "Request body too large (`request.too_large`).",
    422: "Invalid input (`request.invalid` with `errors`, or a rule of the area).",
    429: "Too many requests; see `Retry-After`.",
    503: "A dependency is unavailable; retry later.",
}


# The extension listing the problem codes an operation answers with one status.
PROBLEM_CODES = "x-problem-codes"
# The extension of a 403 listing the permissions the operation checks (`scope.forbidden`).
PERMISSIONS = "x-permissions"
# The attribute on a dependency callable (or guard instance) naming the codes it raises.
DEPENDENCY_CODES = "__problem_codes__"
Codes = Mapping[int, Sequence[str]]
F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Needs:
    """A permission the route's service checks itself, beyond the route's guards (which say
    theirs: `ObjectScope(..., permission)`), refusing with 403 `scope.forbidden` where the
    caller does not hold it. `on` names where it is checked: the object of a path parameter
    (`"article_id"`, through the route's guard for it), the org a body or query field names
    (`"body.branch_id"`, `"query.org_id"`; when the field is absent, the object of the path
    parameter `default`), or the root org (`"root"`). The document says it in the 403's
    `x-permissions`, and the fuzz run accepts `scope.forbidden` only from a caller who lacks a
    guard's permission or one of these (`access`, on the data as it stands)."""

    permission: Permission
    on: str
    default: str | None = None

    def described(self) -> dict[str, str]:
        found = {"permission": str(self.permission), "on": self.on}
        if self.default is not None:
            found["default"] = self.default
        return found


def problems(
    *statuses: int,
    codes: Codes | None = None,
    descriptions: Mapping[int, str] | None = None,
    needs: Sequence[Needs] = (),
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status documented as problem+json, with the codes of the
    route's own rules (`codes={404: ["member.not_found"]}`; a status there need not be repeated
    in `statuses`). `descriptions` replaces a status's lead line with the route's own words; the
    meanings of the codes follow it either way. `needs` lists the permissions the service
    checks beyond the route's guards (see `Needs`): they answer 403 `scope.forbidden`."""
    codes = dict(codes or {})
    if needs:
        codes[403] = [*codes.get(403, ()), "scope.forbidden"]
    descriptions = descriptions or {}
    responses: dict[int | str, dict[str, Any]] = {
        status: {
            "model": Problem,
            "description": descriptions.get(status) or PROBLEM_DESCRIPTIONS.get(status, "Error."),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            PROBLEM_CODES: sorted(set(codes.get(status, ()))),
        }
        for status in sorted({*statuses, *codes, *descriptions})
    }
    if needs:
        responses[403][PERMISSIONS] = [need.described() for need in needs]
    return responses


def declared_needs(responses: Mapping[int | str, Any]) -> list[Needs]:
    """The `Needs` a route declared in its `problems(...)` (read back by the document and the
    fuzz run)."""
    forbidden = responses.get(403) or {}
    return [
        Needs(Permission(item["permission"]), item["on"], item.get("default"))
        for item in forbidden.get(PERMISSIONS, ())
    ]


def raises(codes: Codes) -> Callable[[F], F]:
    """Mark a dependency with the problem codes it can answer: every route using it documents
    them (`@raises({401: ["auth.token_expired", ...]})`)."""

    def mark(call: F) -> F:
        setattr(call, DEPENDENCY_CODES, {status: tuple(c) for status, c in codes.items()})
        return call

    return mark


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


@raises({412: ["resource.etag_mismatch"]})
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


def plain_json(value: Any, *, version: int | None = None) -> Response:
    """A report of hundreds of items written as its documented model straight from plain values
    (ints, strings, floats and UTC datetimes read from the database), not validated into a model
    per item first (~20 µs an item). The route keeps its `response_model` for the document; use
    it only where every value is already of its schema's type. `version`: the resource's
    `ETag` (as `with_etag`)."""
    response = Response(orjson.dumps(value, option=orjson.OPT_UTC_Z), media_type="application/json")
    if version is not None:
        response.headers["ETag"] = etag(version)
    return response
