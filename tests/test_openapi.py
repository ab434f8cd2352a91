"""The OpenAPI document is a product: committed, current, and well-formed for client generators."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import hypothesis
import jsonschema  # type: ignore[import-untyped]
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.api.openapi import OPENAPI_PATH, render_openapi
from app.schemas.common import StrictModel

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
    assert members["default"]["x-problem-codes"] == ["server.busy", "server.error"]


def test_every_scope_refusal_names_what_it_checks(app: FastAPI) -> None:
    """A 403 `scope.forbidden` says which permissions the operation checks, and on what (its
    guards' and those its service checks itself, `problems(needs=...)`): a client can explain
    it, and the fuzz run decides from them whether a refusal was right. Every other 403 code
    has its own meaning."""
    from app.api.problem_meanings import MEANINGS
    from app.services.access import Permission

    for path, method, op in operations(app):
        forbidden = op["responses"].get("403")
        if forbidden is None:
            continue
        codes = forbidden["x-problem-codes"]
        assert codes, f"{method.upper()} {path}: a 403 without codes"
        assert all(code in MEANINGS for code in codes), (method, path, codes)
        if "scope.forbidden" in codes:
            checked = forbidden["x-permissions"]
            assert checked, f"{method.upper()} {path}: scope.forbidden checks no permission"
            for item in checked:
                Permission(item["permission"])
                on = item["on"]
                assert (
                    on == "root"
                    or on.split(".")[0] in ("body", "query")
                    or ("{" + on + "}" in path)
                ), (method, path, item)
        else:
            assert "x-permissions" not in forbidden, (method, path)
    relays = app.openapi()["paths"]["/api/v1/documents/{document_id}/relays"]["post"]
    assert relays["responses"]["403"]["x-permissions"] == [
        {"permission": "content.view", "on": "document_id"},
        {"permission": "content.relay", "on": "body.org_id"},
    ]
    assert (
        "`content.relay` on the org `org_id` names in the body"
        in (relays["responses"]["403"]["description"])
    )


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


# --- types that match the server -----------------------------------------------------------------


def _schema(spec: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any]:
    while node and "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node or {}


def _nullable(prop: dict[str, Any]) -> bool:
    branches = prop.get("anyOf", [prop])
    return any(branch.get("type") == "null" for branch in branches)


def _json_body(spec: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    return _schema(spec, container.get("content", {}).get("application/json", {}).get("schema"))


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _reachable(spec: dict[str, Any], roots: set[str]) -> set[str]:
    schemas = spec["components"]["schemas"]
    seen: set[str] = set()
    todo = [name for name in roots if name in schemas]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [ref for ref in _refs(schemas[name]) if ref in schemas]
    return seen


def _body_models(app: FastAPI) -> dict[tuple[str, str], type[BaseModel]]:
    """The request body model of every operation that takes one, by (method, path)."""
    models = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.body_field is not None:
            model = route.body_field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                path = re.sub(r"{(\w+):\w+}", r"{\1}", context.path or "")
                for method in route.methods or ():
                    models[(method.lower(), path)] = model
    return models


def test_edits_cannot_null_what_reads_never_hold_null(app: FastAPI) -> None:
    """A field an edit cannot clear (the read never shows it null) is optional but not nullable
    in the edit: a client generated from the document cannot send the `null` the server
    refuses."""
    spec = app.openapi()
    checked = 0
    for _path, method, op in operations(app):
        if method != "patch" or "requestBody" not in op:
            continue
        body = _json_body(spec, op["requestBody"])
        read = _json_body(spec, op["responses"]["200"]).get("properties", {})
        for name, prop in body["properties"].items():
            assert name not in body.get("required", []), (op["operationId"], name)
            if name in read and not _nullable(read[name]):
                checked += 1
                assert not _nullable(prop), (
                    f"{op['operationId']}: `{name}` is never null when read, so an edit cannot "
                    "clear it: declare it `NotNull[...] = None` (app.schemas.common)"
                )
    assert checked >= 20


def test_edit_models_refuse_null_exactly_where_the_document_says(app: FastAPI) -> None:
    """What the document says of `null` in an edit is what validation does: refused (422
    `request.invalid`, before the service runs) where not nullable, taken where nullable."""
    spec = app.openapi()
    models = _body_models(app)
    refused = 0
    for path, method, op in operations(app):
        if method != "patch" or "requestBody" not in op:
            continue
        model = models[(method, path)]
        for name, prop in _json_body(spec, op["requestBody"])["properties"].items():
            if _nullable(prop):
                model.model_validate({name: None})
                continue
            refused += 1
            with pytest.raises(ValidationError) as caught:
                model.model_validate({name: None})
            assert [e["type"] for e in caught.value.errors()] == ["null_forbidden"], name
    assert refused >= 20


def test_every_json_body_has_an_example_that_its_model_takes(app: FastAPI) -> None:
    """Every JSON request body shows a whole example (`model_config = ConfigDict(
    json_schema_extra={"examples": [...]})` on the body model): the admin app's generated client
    shows it, and the fuzz run's examples phase sends it. Each example passes the route's own
    body model, cross-field validators included, both parsed from JSON text and as FastAPI
    validates the decoded body, and the document's own schema of the body."""
    spec = app.openapi()
    models = _body_models(app)
    checked = []
    for path, method, op in operations(app):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        operation = op["operationId"]
        model = models.get((method, path))
        assert model is not None, f"{operation}: no pydantic model behind its JSON body"
        examples = _json_body(spec, op["requestBody"]).get("examples")
        assert examples, (
            f"{operation}: give {model.__name__} an example "
            '(`model_config = ConfigDict(json_schema_extra={"examples": [...]})`)'
        )
        document = jsonschema.Draft202012Validator(
            {**content["application/json"]["schema"], "components": spec["components"]}
        )
        for example in examples:
            text = json.dumps(example)
            try:
                model.model_validate_json(text)
                model.model_validate(json.loads(text))
            except ValidationError as exc:
                pytest.fail(f"{operation}: {model.__name__} refuses its own example: {exc}")
            refused = [
                f"{list(error.path)}: {error.message}" for error in document.iter_errors(example)
            ]
            assert not refused, f"{operation}: the document refuses its example: {refused}"
        checked.append(operation)
    assert {"create_meeting", "create_quiz", "create_survey", "mark_all_notifications_read"} <= (
        set(checked)
    )


def test_success_bodies_require_every_field(app: FastAPI) -> None:
    """FastAPI sends every field of a response model, defaulted ones too: each property of a
    2xx body is required, so generated clients need not guess (`token_type`). A response model
    with defaults inherits `ReadModel` (app.schemas.common)."""
    spec = app.openapi()
    roots = {
        ref
        for _path, _method, op in operations(app)
        for status, response in op["responses"].items()
        if status.startswith("2")
        for ref in _refs(response.get("content", {}))
    }
    reached = _reachable(spec, roots)
    assert {"TokenPair", "MemberRead", "MeetingSummary"} <= reached
    for name in sorted(reached):
        schema = spec["components"]["schemas"][name]
        optional = set(schema.get("properties", {})) - set(schema.get("required", []))
        assert not optional, f"{name}: {sorted(optional)} always sent but not required"
    token_pair = spec["components"]["schemas"]["TokenPair"]
    assert "token_type" in token_pair["required"]


def test_creates_do_not_require_what_the_server_defaults(app: FastAPI) -> None:
    """A create body (`XCreate`) does not require a field its table fills by default."""
    from app.models.base import Base

    spec = app.openapi()
    tables = Base.metadata.tables
    mapped = set()
    for _path, method, op in operations(app):
        if method != "post" or "201" not in op["responses"] or "requestBody" not in op:
            continue
        ref = op["requestBody"]["content"].get("application/json", {}).get("schema", {})
        ref = ref.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        table = tables.get(re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Create")).lower())
        if not name.endswith("Create") or table is None:
            continue
        mapped.add(table.name)
        body = _json_body(spec, op["requestBody"])
        for field in body.get("required", []):
            column = table.c.get(field)
            if column is not None:
                assert column.default is None, (name, field)
                assert column.server_default is None, (name, field)
        for field, prop in body["properties"].items():
            if "default" in prop:
                assert field not in body.get("required", []), (name, field)
    assert {"member", "org", "meeting", "document", "role_grant"} <= mapped


def _string_patterns(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in prop.get("anyOf", [prop]) if b.get("type") == "string" and "pattern" in b]


def test_request_patterns_are_as_strict_as_the_server(app: FastAPI) -> None:
    """Whatever a request field's documented pattern (and lengths) allow, the field's own
    validation takes: a client that checks the pattern is not refused later (the phone pattern
    holds libphonenumber's Vietnamese mobile ranges). NUL is refused everywhere (see
    `StrictModel`), so it is left out of the samples."""
    spec = app.openapi()
    models = {
        model.__name__: model
        for model in _all_subclasses(StrictModel)
        if model.__name__ in spec["components"]["schemas"]
    }
    checked: list[str] = []
    for name, model in sorted(models.items()):
        properties = spec["components"]["schemas"][name].get("properties", {})
        for field, prop in properties.items():
            for branch in _string_patterns(prop):
                info = model.model_fields[field]
                form: Any = Annotated[info.annotation, info]
                adapter: TypeAdapter[Any] = TypeAdapter(form)
                low, high = branch.get("minLength", 0), branch.get("maxLength", 10_000)

                def fits(sample: str, low: int = low, high: int = high) -> bool:
                    return low <= len(sample) <= high and "\x00" not in sample

                samples: st.SearchStrategy[str] = st.from_regex(
                    branch["pattern"], fullmatch=True
                ).filter(fits)
                _accepts_all(adapter, samples, f"{name}.{field}")
                checked.append(f"{name}.{field}")
    assert {"OtpRequest.phone", "MemberCreate.phone", "MemberUpdate.phone"} <= set(checked)


def test_phone_pattern_takes_the_usual_ways_of_writing_a_number() -> None:
    from app.core.phone import PHONE_PATTERN, normalise_phone

    for written in (
        "0912 345 678",
        "0912.345.678",
        "091 234 5678",
        "+84 912 345 678",
        "84912345678",
        "+84-912-345-678",
        "0387654321",
        "0 912 345 678",
    ):
        assert re.fullmatch(PHONE_PATTERN, written), written
        assert normalise_phone(written).startswith("+84")
    for refused in ("0212 345 678", "+1 202 555 0100", "0912 345 67", "0912  345 678"):
        assert not re.fullmatch(PHONE_PATTERN, refused), refused


def _accepts_all(adapter: TypeAdapter[Any], samples: st.SearchStrategy[str], field: str) -> None:
    # Derandomized, so the samples are the same on every run; generating them may be slow on a
    # busy machine (the filter rejects some), which is no failure of the contract.
    @hypothesis.settings(
        max_examples=60,
        database=None,
        derandomize=True,
        suppress_health_check=[
            hypothesis.HealthCheck.too_slow,
            hypothesis.HealthCheck.filter_too_much,
        ],
        deadline=None,
    )
    @hypothesis.given(samples)
    def accepted(sample: str) -> None:
        try:
            adapter.validate_python(sample)
        except ValidationError as exc:
            raise AssertionError(f"{field}: {sample!r} matches the pattern, but {exc}") from exc

    accepted()


def _all_subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


# --- what a refusal means on each operation ------------------------------------------------------


def test_refusals_say_what_happens_on_their_operation(app: FastAPI) -> None:
    """A 401, 403 or 409 lists each of its codes with its meaning (one registry,
    `app.api.problem_meanings`); a new code without a meaning fails here."""
    from app.api.problem_meanings import MEANINGS

    for path, method, op in operations(app):
        for status in ("401", "403", "409"):
            response = op["responses"].get(status)
            if response is None:
                continue
            codes = response["x-problem-codes"]
            assert codes, f"{method.upper()} {path} {status} declares no code"
            missing = [code for code in codes if code not in MEANINGS]
            assert not missing, f"give {missing} a line in app/api/problem_meanings.py"
            lines = response["description"].splitlines()
            assert [line.split("`")[1] for line in lines if line.startswith("- `")] == codes
    paths = app.openapi()["paths"]
    create_member = paths["/api/v1/orgs/{org_id}/members"]["post"]["responses"]
    assert "this phone number" in create_member["409"]["description"]
    assert "this party card number" in create_member["409"]["description"]
    # `scope.forbidden` names the permission the route's guard checks, and who holds it.
    assert "`member.manage`" in create_member["403"]["description"]
    assert "organisation officer" in create_member["403"]["description"]
    start = paths["/api/v1/meetings/{meeting_id}/start"]["post"]["responses"]
    assert "`meeting.manage`" in start["403"]["description"]
    assert "secretary" in start["403"]["description"]
    # A route's own lead line.
    login = paths["/api/v1/auth/password/login"]["post"]["responses"]
    assert login["401"]["description"].startswith("The phone number and password were refused.")
