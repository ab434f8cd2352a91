"""The OpenAPI document is a product: committed, current, and well-formed for client generators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.api.openapi import OPENAPI_PATH, render_openapi

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_committed_document_is_current(app: FastAPI) -> None:
    committed = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.exists() else ""
    assert committed == render_openapi(app), (
        "openapi/openapi.json is stale: run `handbook openapi export` (or "
        "`python3 dev.py run handbook openapi export`) and commit the result"
    )


def test_export_is_deterministic(app: FastAPI, tmp_path: Path) -> None:
    from app.api.openapi import export_openapi
    from app.main import create_app
    from tests.conftest import make_settings

    first = export_openapi(app, tmp_path / "a.json").read_text()
    second = export_openapi(create_app(make_settings()), tmp_path / "b.json").read_text()
    assert first == second


def test_operation_ids_are_unique_and_snake_case(app: FastAPI) -> None:
    ids = [op["operationId"] for _, _, op in operations(app)]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").isalnum() and i == i.lower() for i in ids)


def test_every_operation_has_one_known_tag_and_a_summary(app: FastAPI) -> None:
    known = {tag["name"] for tag in app.openapi()["tags"]}
    for path, method, op in operations(app):
        assert len(op.get("tags", [])) == 1, (method, path)
        assert op["tags"][0] in known, (method, path)
        assert op.get("description"), f"{method.upper()} {path} needs a docstring"


def test_errors_are_documented_as_problems(app: FastAPI) -> None:
    for path, method, op in operations(app):
        responses = op["responses"]
        # One success status; a range download adds its partial answer (206).
        success = [s for s in responses if s.startswith("2") and s != "206"]
        assert len(success) == 1, (method, path)
        secured = bool(op.get("security"))
        if secured:
            assert "401" in responses, f"{method.upper()} {path} must document 401"
        if op.get("parameters") or "requestBody" in op:
            assert "422" in responses, f"{method.upper()} {path} must document 422"
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, status)
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}


def test_no_duplicate_input_output_schemas(app: FastAPI) -> None:
    names = app.openapi()["components"]["schemas"]
    assert not [n for n in names if n.endswith(("-Input", "-Output"))]


def test_request_schemas_have_examples_for_the_main_fields(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["OtpRequest"]["properties"]["phone"]["examples"] == ["0912 345 678"]
    assert "examples" in schemas["Problem"]
