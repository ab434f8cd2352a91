"""The OpenAPI document: built once, error responses as problem+json only, exported
deterministically to `openapi/openapi.json` (a test fails when the committed file is stale)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
_MALFORMED = {
    "description": "The body could not be read (`request.malformed`).",
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if "requestBody" in operation:
                # Any body may fail to parse (bad encoding, broken framing) before validation.
                operation["responses"].setdefault("400", _MALFORMED)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and PROBLEM_MEDIA_TYPE in content:
                    response["content"] = {PROBLEM_MEDIA_TYPE: content[PROBLEM_MEDIA_TYPE]}
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
