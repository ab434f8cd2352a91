"""Every problem code a client can meet is in the OpenAPI document, per operation and status.

The check itself runs at the end of every test session (`tests/problem_codes.py`, hooked in
`tests/conftest.py`): each problem answer a test or the fuzz run observes is recorded, and the run
fails listing each (operation, status, code) the document omits. These tests keep the recorder
and the check honest.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests import problem_codes
from tests.conftest import ActorLogin
from tests.factories import Tree


async def test_the_shared_client_records_problem_answers(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_observed = problem_codes.OBSERVED
    monkeypatch.setattr(problem_codes, "OBSERVED", set())
    await client.get("/api/v1/me/home")
    headers = await as_actor(tree.member.id)
    await client.get("/api/v1/members/999999999", headers=headers)
    await client.get("/api/v1/healthz-nowhere")  # no route: nothing to declare
    assert {
        ("GET", "/api/v1/me/home", 401, "auth.unauthenticated"),
        ("GET", "/api/v1/members/{member_id}", 404, "member.not_found"),
    } == problem_codes.OBSERVED
    session_observed |= problem_codes.OBSERVED  # still checked at the session's end


def test_templates_follow_the_router(app: FastAPI) -> None:
    assert (
        problem_codes.template_of(app, "GET", "/api/v1/uploads/12") == "/api/v1/uploads/{upload_id}"
    )
    assert problem_codes.template_of(app, "GET", "/api/v1/orgs/3/members") == (
        "/api/v1/orgs/{org_id}/members"
    )
    assert problem_codes.template_of(app, "DELETE", "/api/v1/me/home") is None
    assert problem_codes.template_of(object(), "GET", "/api/v1/me/home") is None


def test_the_check_names_what_the_document_omits(app: FastAPI) -> None:
    spec = app.openapi()
    declared = ("PATCH", "/api/v1/members/{member_id}", 403, "member.holds_higher_role")
    central = ("GET", "/api/v1/me/home", 401, "auth.token_expired")
    server = ("GET", "/api/v1/me/home", 500, "server.error")  # the default response
    unknown = ("PATCH", "/api/v1/members/{member_id}", 403, "member.made_up")
    undeclared_status = ("GET", "/api/v1/me/home", 418, "tea.pot")
    hidden = ("GET", "/docs", 404, "route.not_found")  # not an operation of the document
    gaps = problem_codes.missing(
        spec, [declared, central, server, unknown, undeclared_status, hidden]
    )
    assert gaps == [undeclared_status, unknown]
    assert "PATCH /api/v1/members/{member_id} 403 member.made_up" in problem_codes.report(gaps)


def test_observations_survive_the_workers_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(problem_codes, "OBSERVED", {("GET", "/a", 404, "x.y")})
    monkeypatch.setattr(problem_codes, "FUZZ_OBSERVED", {("PUT", "/c", 422, "x.w")})
    problem_codes.save("run1", "gw0")
    monkeypatch.setattr(problem_codes, "OBSERVED", {("POST", "/b", 409, "x.z")})
    monkeypatch.setattr(problem_codes, "FUZZ_OBSERVED", set())
    problem_codes.save("run1", "gw1")
    suite, fuzz = problem_codes.load("run1")
    assert suite == {("GET", "/a", 404, "x.y"), ("POST", "/b", 409, "x.z")}
    assert fuzz == {("PUT", "/c", 422, "x.w")}  # kept apart: reported, strict on request
    assert problem_codes.load("run2") == (set(), set())
