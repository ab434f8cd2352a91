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
        assert "default" in responses, f"{method.upper()} {path} has no default response"
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, status)
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}


def test_problem_responses_list_their_codes_with_an_example(app: FastAPI) -> None:
    for path, method, op in operations(app):
        for status, response in op["responses"].items():
            if status != "default" and int(status) < 400:
                continue
            codes = response["x-problem-codes"]
            assert codes == sorted(set(codes)), (method, path, status)
            if codes:
                example = response["content"]["application/problem+json"]["example"]
                assert example["code"] in codes
                assert example["status"] == (500 if status == "default" else int(status))
    members = app.openapi()["paths"]["/api/v1/members/{member_id}"]["patch"]["responses"]
    assert "auth.token_expired" in members["401"]["x-problem-codes"]  # the actor, centrally
    assert members["404"]["x-problem-codes"] == ["member.not_found"]  # the guard
    assert "scope.forbidden" in members["403"]["x-problem-codes"]
    assert "member.holds_higher_role" in members["403"]["x-problem-codes"]  # the route
    assert members["412"]["x-problem-codes"] == ["resource.etag_mismatch"]  # If-Match
    assert members["422"]["x-problem-codes"][-1] == "request.invalid"  # validation
    assert members["default"]["x-problem-codes"] == ["server.error"]


def test_response_headers_are_declared(app: FastAPI) -> None:
    spec = app.openapi()
    assert set(spec["components"]["headers"]) == {"X-Request-ID", "Retry-After", "WWW-Authenticate"}
    for path, method, op in operations(app):
        for status, response in op["responses"].items():
            headers = response["headers"]
            assert "X-Request-ID" in headers, (method, path, status)
            if status == "401":
                assert "WWW-Authenticate" in headers, (method, path)
            if status == "429":
                assert "Retry-After" in headers, (method, path)


def test_public_operations_say_so_and_the_document_names_its_server(app: FastAPI) -> None:
    spec = app.openapi()
    public = {(path, method) for path, method, op in operations(app) if op.get("security") == []}
    assert {
        ("/api/v1/auth/otp/request", "post"),
        ("/api/v1/auth/otp/verify", "post"),
        ("/api/v1/auth/password/login", "post"),
        ("/api/v1/app-config", "get"),
        ("/healthz", "get"),
    } <= public
    assert ("/api/v1/me/home", "get") not in public
    assert all("security" in op for _path, _method, op in operations(app))
    assert spec["servers"][0]["url"] == "/"
    assert spec["info"]["license"]["name"]
    assert spec["info"]["contact"]["url"]


def test_list_schemas_have_clean_names_and_ids_are_int64(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert not [name for name in schemas if "_" in name]
    assert {"MemberPage", "OrgPage", "MeetingPage", "UnreadMemberPage"} <= schemas.keys()
    assert schemas["MemberPage"]["title"] == "MemberPage"
    assert schemas["MemberSummary"]["properties"]["id"]["format"] == "int64"
    rendered = render_openapi(app)
    assert "e+18" not in rendered
    get_member = app.openapi()["paths"]["/api/v1/members/{member_id}"]["get"]
    member_id = get_member["parameters"][0]["schema"]
    assert member_id["maximum"] == 2**63 - 1
    assert isinstance(member_id["maximum"], int)
    assert member_id["format"] == "int64"
    assert '"maximum": 9223372036854775807' in rendered


def test_no_duplicate_input_output_schemas(app: FastAPI) -> None:
    names = app.openapi()["components"]["schemas"]
    assert not [n for n in names if n.endswith(("-Input", "-Output"))]


def test_request_schemas_have_examples_for_the_main_fields(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["OtpRequest"]["properties"]["phone"]["examples"] == ["0912 345 678"]
    assert "examples" in schemas["Problem"]
