"""The OpenAPI document: built once, error responses as problem+json only, exported
deterministically to `openapi/openapi.json` (a test fails when the committed file is stale)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from app.api.deps import ObjectScope
from app.api.problem_meanings import MEANINGS
from app.api.responses import (
    DEPENDENCY_CODES,
    PERMISSIONS,
    PROBLEM_CODES,
    PROBLEM_DESCRIPTIONS,
    Needs,
    declared_needs,
)
from app.core.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, http_titles
from app.models.role import Role
from app.services.access import (
    MEMBERSHIP_PERMISSIONS,
    OWNER_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
)

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
_MALFORMED = {
    "description": "The body could not be read (`request.malformed`).",
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


_BAD_CURSOR = {
    "description": "The `cursor` is not one this list gave (`pagination.invalid_cursor`).",
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_CONVERTOR = re.compile(r"{(\w+):\w+}")  # `{upload_id:int}` is `{upload_id}` in the document
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Codes that come with a status whatever the operation (see app.api.responses).
_SHARED_CODES: dict[int, tuple[str, ...]] = {
    413: ("request.too_large",),
    422: ("request.invalid",),
    429: ("rate.limited",),
    503: ("server.busy",),  # every operation may meet it (the `default` response says so too)
}
_DEFAULT = {
    "description": "An unexpected error (`server.error`, 500): the request id in the body and "
    "the `X-Request-ID` header names it in the server's log. Or the server is saturated "
    "(`server.busy`, 503, with `Retry-After`): every database connection stayed busy; nothing "
    "was done, send the request again after that many seconds.",
    "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
    PROBLEM_CODES: ["server.error", "server.busy"],
}


def _dependency_codes(dependant: Dependant) -> Iterator[tuple[int, str]]:
    declared = getattr(dependant.call, DEPENDENCY_CODES, None) if dependant.call else None
    for status, codes in (declared or {}).items():
        for code in codes:
            yield status, code
    for sub in dependant.dependencies:
        yield from _dependency_codes(sub)


def _guards(dependant: Dependant) -> Iterator[ObjectScope[Any]]:
    if isinstance(dependant.call, ObjectScope):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _guards(sub)


def _holders(permission: Permission) -> str:
    holders = [
        role.value.replace("_", " ")
        for role, permissions in ROLE_PERMISSIONS.items()
        if permission in permissions and role is not Role.DEPLOYMENT_ADMIN
    ]
    if permission in MEMBERSHIP_PERMISSIONS:
        holders.append("every member, in their own branch")
    if permission in OWNER_PERMISSIONS:
        holders.append("the member it belongs to")
    return ", ".join(holders) or "the deployment admin"


def _noun(param: str) -> str:
    return param.removesuffix("_id").replace("_", " ")


def _where(need: Needs) -> str:
    if need.on == "root":
        return "the root org"
    if "." in need.on:
        place, field = need.on.split(".", 1)
        where = f"the org `{field}` names in the {place}"
        return f"{where} (else the {_noun(need.default)})" if need.default else where
    return f"the {_noun(need.on)}"


def _permissions(route: APIRoute) -> list[dict[str, str]]:
    """What `scope.forbidden` checks on the route: its guards' permissions on their objects,
    then the permissions its service checks itself (`problems(needs=...)`)."""
    checked = [
        {"permission": str(guard.permission), "on": guard.id_param}
        for guard in _guards(route.dependant)
    ]
    checked += [need.described() for need in declared_needs(route.responses)]
    return list({tuple(sorted(item.items())): item for item in checked}.values())


def _meanings(route: APIRoute) -> dict[str, str]:
    """The registry's meanings, with `scope.forbidden` naming what the route checks."""
    checks = []
    for guard in _guards(route.dependant):
        checks.append(
            f"the {_noun(guard.id_param)} is visible to you, but this needs `{guard.permission}` "
            f"on it, which your roles there do not give (held by: {_holders(guard.permission)})"
        )
    for need in declared_needs(route.responses):
        checks.append(
            f"this needs `{need.permission}` on {_where(need)}, which your roles there do not "
            f"give (held by: {_holders(need.permission)})"
        )
    if not checks:
        return MEANINGS
    return {**MEANINGS, "scope.forbidden": "; or ".join(dict.fromkeys(checks)) + "."}


def _describe(lead: str, codes: list[str], meanings: dict[str, str]) -> str:
    """The status's lead line, then what each code means on this operation."""
    lines = [f"- `{code}`: {meanings[code]}" for code in codes]
    return "\n".join([lead, "", *lines])


def _problem_example(status: int, code: str) -> dict[str, Any]:
    title, detail = http_titles(status)
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "6f1c2a9e0b7d4c1f",
    }


def _document_problems(operation: dict[str, Any], route: APIRoute) -> None:
    """Every problem response of the operation lists its codes and carries an example."""
    responses: dict[str, Any] = operation["responses"]
    for status, code in _dependency_codes(route.dependant):
        response = responses.get(str(status))
        if response is None:
            response = responses[str(status)] = {
                "description": PROBLEM_DESCRIPTIONS.get(status, "Error."),
                "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
            }
        response.setdefault(PROBLEM_CODES, []).append(code)
    if "requestBody" in operation:
        responses.setdefault("400", copy.deepcopy(_MALFORMED))
        responses["400"].setdefault(PROBLEM_CODES, []).append("request.malformed")
    if any(p["name"] == "cursor" for p in operation.get("parameters", ())):
        responses.setdefault("400", copy.deepcopy(_BAD_CURSOR))
        responses["400"].setdefault(PROBLEM_CODES, []).append("pagination.invalid_cursor")
    responses.setdefault("default", copy.deepcopy(_DEFAULT))
    meanings = _meanings(route)
    for key, response in responses.items():
        content = response.get("content", {})
        if PROBLEM_MEDIA_TYPE not in content:
            continue
        status = 500 if key == "default" else int(key)
        codes = sorted({*response.get(PROBLEM_CODES, ()), *_SHARED_CODES.get(status, ())})
        response[PROBLEM_CODES] = codes
        if status == 403 and "scope.forbidden" in codes:
            response[PERMISSIONS] = _permissions(route)
        if codes:
            content[PROBLEM_MEDIA_TYPE]["example"] = _problem_example(status, codes[0])
        if codes and all(code in meanings for code in codes):
            response["description"] = _describe(response["description"], codes, meanings)


_HEADERS = {
    "X-Request-ID": {
        "description": "The request's id (yours when you sent a well-formed `X-Request-ID`); "
        "every log line of the request carries it.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{8,64}$"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": 'The Bearer challenge: `Bearer realm="handbook"`, with '
        '`error="invalid_token"` when a token was sent but refused.',
        "required": True,
        "schema": {"type": "string"},
    },
}
_STATUS_HEADERS = {"401": ("WWW-Authenticate",), "429": ("Retry-After",)}
_SERVERS = [
    {
        "url": "/",
        "description": "The deployment serving this document: each province runs its own, at "
        "its own address (`PUBLIC_BASE_URL`).",
    }
]
_CONTACT = {"name": "Sổ tay đảng viên", "url": "https://handbook.dangvien.vn"}
_LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}
_MAX_ID = 2**63 - 1


def _declare_headers(operation: dict[str, Any]) -> None:
    for key, response in operation["responses"].items():
        headers = response.setdefault("headers", {})
        for name in ("X-Request-ID", *_STATUS_HEADERS.get(key, ())):
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


# Lists are `Page[ItemModel]`: their schemas are named `<Item>Page` (`MemberSummary` gives
# `MemberPage`: `Summary` and `Read` dropped) rather than pydantic's `Page_MemberSummary_`.
_PAGE_NAME = re.compile(r"^Page_([A-Za-z0-9]+)_$")
_PAGE_NAMES = {"MemberNotRead": "UnreadMemberPage"}
# Two models share a class name in different modules: the document names them apart.
_SCHEMA_NAMES = {
    "app__schemas__content__FileLink": "DocumentFileLink",
    "app__schemas__member_import__FileLink": "ImportFileLink",
}


def _page_name(item: str) -> str:
    if item in _PAGE_NAMES:
        return _PAGE_NAMES[item]
    for suffix in ("Summary", "Read"):
        item = item.removesuffix(suffix)
    return f"{item}Page"


def _rename_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    renames = dict(_SCHEMA_NAMES)
    for name in schemas:
        match = _PAGE_NAME.match(name)
        if match:
            renames[name] = _page_name(match.group(1))
    renames = {old: new for old, new in renames.items() if old in schemas}
    clash = set(renames.values()) & (schemas.keys() - renames.keys())
    if clash or len(set(renames.values())) != len(renames):
        raise RuntimeError(f"schema names clash: {sorted(renames.values())}")
    text = json.dumps(spec)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    spec = json.loads(text)
    renamed = {}
    for name, schema in spec["components"]["schemas"].items():
        if name in renames:
            schema["title"] = renames[name]
        renamed[renames.get(name, name)] = schema
    spec["components"]["schemas"] = renamed
    return spec


def _is_id(name: Any) -> bool:
    return isinstance(name, str) and (name == "id" or name.endswith(("_id", "_ids")))


def _int64_ids(node: Any, is_id: bool = False) -> None:
    """Ids (and integers bounded by the largest id) are 64-bit: say so (`format: int64`)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                value = node.get(bound)
                if isinstance(value, float) and value.is_integer():
                    # A bound that went through a float (2**63 - 1 rounds up to 2**63).
                    node[bound] = _MAX_ID if value >= _MAX_ID else int(value)
            if is_id or node.get("maximum") == _MAX_ID:
                node.setdefault("format", "int64")
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    _int64_ids(schema, _is_id(name))
            elif key in ("anyOf", "oneOf", "items"):
                _int64_ids(value, is_id)
            elif key == "schema" and _is_id(node.get("name")):
                _int64_ids(value, True)
            else:
                _int64_ids(value)
    elif isinstance(node, list):
        for value in node:
            _int64_ids(value, is_id)


def _ref_of(response: dict[str, Any] | None) -> str | None:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    return ref if isinstance(ref, str) else None


def _link_creates(spec: dict[str, Any]) -> None:
    """OpenAPI links from each create (201 with a body) to the operations on what it created:
    the path `/things/{thing_id}` whose GET (or edit) answers the same schema, its id from the
    body."""
    by_schema: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if len(names) != 1 or not path.endswith("{" + names[0] + "}"):
            continue
        for method in ("get", "patch", "put", "delete"):
            ref = _ref_of(item[method]["responses"].get("200")) if method in item else None
            if ref:
                by_schema.setdefault(ref, (path, item))
    for item in spec["paths"].values():
        for operation in item.values():
            created = operation["responses"].get("201")
            target = by_schema.get(_ref_of(created) or "")
            if created is None or target is None:
                continue
            path, target_item = target
            (name,) = re.findall(r"{(\w+)}", path)
            created["links"] = {
                f"{method.capitalize()}{_pascal(target_item[method]['operationId'])}": {
                    "operationId": target_item[method]["operationId"],
                    "parameters": {name: "$response.body#/id"},
                    "description": f"`{method.upper()} {path}` of what was created.",
                }
                for method in ("get", "patch", "put", "delete")
                if method in target_item
            }


def _pascal(operation_id: str) -> str:
    return "".join(part.capitalize() for part in operation_id.split("_")[1:])


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    # FastAPI shares the dicts of `responses=` between operations: a plain copy of each.
    spec = json.loads(json.dumps(spec))
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and PROBLEM_MEDIA_TYPE in content:
                    response["content"] = {PROBLEM_MEDIA_TYPE: content[PROBLEM_MEDIA_TYPE]}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.include_in_schema:
            for method in route.methods or ():
                path = _CONVERTOR.sub(r"{\1}", context.path or "")
                operation = spec["paths"].get(path, {}).get(method.lower())
                if operation is not None:
                    _document_problems(operation, route)
                    _declare_headers(operation)
                    # No bearer dependency: a public operation, whatever the document's default.
                    operation.setdefault("security", [])
    spec["servers"] = _SERVERS
    spec["info"]["contact"] = _CONTACT
    spec["info"]["license"] = _LICENSE
    spec.setdefault("components", {})["headers"] = _HEADERS
    _int64_ids(spec)
    _link_creates(spec)
    spec = _rename_schemas(spec)
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render_openapi(app: FastAPI) -> str:
    """The document as committed: FastAPI's key order, 2-space indent, final newline."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def export_openapi(app: FastAPI, path: Path = OPENAPI_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(app), encoding="utf-8")
    return path
