"""Every non-2xx is a problem+json with a stable code; bad input changes nothing."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.middleware import _ids, _read_headers
from app.main import create_app
from app.models import Member
from app.resources import Resources
from tests import dbs
from tests.conftest import ActorLogin, FreshDatabase, make_settings
from tests.factories import Tree

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert str(body["type"]).endswith(code)
    return body


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nowhere"), 404, "route.not_found")


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/me/home")
    assert_problem(response, 405, "route.method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_non_numeric_id_is_422(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get("/api/v1/orgs/abc", headers=await as_actor(tree.member.id))
    body = assert_problem(response, 422, "request.invalid")
    assert body["errors"] == [
        {
            "loc": ["path", "org_id"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


async def test_huge_ids_are_422_not_500(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.get(f"/api/v1/orgs/{2**70}", headers=await as_actor(tree.member.id))
    assert_problem(response, 422, "request.invalid")


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/otp/request",
        content=b'{"phone": ',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, "request.invalid")


async def test_validation_errors_never_echo_the_input(client: httpx.AsyncClient) -> None:
    secret = "my-very-secret-password"
    response = await client.post(
        "/api/v1/auth/password/login",
        json={"phone": "0912345678", "password": secret, "unexpected": secret},
    )
    body = assert_problem(response, 422, "request.invalid")
    assert secret not in response.text
    assert body["errors"] == [
        {
            "loc": ["body", "unexpected"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


async def test_declared_oversized_body_is_413_before_the_handler(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    limit = resources.settings.api.max_body_bytes
    response = await client.post(
        "/api/v1/auth/otp/request",
        content=b"{" + b" " * limit + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413, "request.too_large")


async def test_streamed_oversized_body_is_413(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    limit = resources.settings.api.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"phone": "'
        for _ in range(limit // 65536 + 2):
            yield b"9" * 65536
        yield b'"}'

    response = await client.post(
        "/api/v1/auth/otp/request", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "request.too_large")


async def test_bad_member_create_changes_nothing(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession
) -> None:
    before = await session.scalar(select(func.count()).select_from(Member))
    headers = await as_actor(tree.officer_c1.id)
    bad = [
        {"full_name": "A"},
        {"full_name": "Nguyễn Văn Mới", "phone": "12"},
        {"full_name": "Nguyễn Văn Mới", "status": "emperor"},
        {"full_name": "Nguyễn Văn Mới", "date_of_birth": "1800-01-01"},
        {"full_name": "Nguyễn Văn Mới", "role": "deployment_admin"},
        {"full_name": "Nguyễn Văn Mới", "phone": tree.member.phone},
    ]
    for body in bad:
        response = await client.post(
            f"/api/v1/orgs/{tree.b1.id}/members", json=body, headers=headers
        )
        assert response.status_code in {409, 422}, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert await session.scalar(select(func.count()).select_from(Member)) == before


async def test_incoming_request_id_is_kept_when_well_formed(client: httpx.AsyncClient) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert kept.headers["x-request-id"] == "req-12345678"
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 16
    # Made ones: 16 hex digits, each request its own.
    made = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(20)}
    assert len(made) == 20
    assert all(re.fullmatch(r"[0-9a-f]{16}", made_id) for made_id in made)


def test_a_forked_worker_makes_request_ids_of_its_own() -> None:
    """Workers forked from one parent (a process manager that forks) never share ids."""
    parent = _ids.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send one id back and leave at once
        os.write(write, _ids.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child[:8] != parent[:8]


@pytest.mark.parametrize(
    "value", [b"abcdefgh\n", b"abcdefgh\r\n", b"\nabcdefgh", b"abc defgh", b"a" * 65, b"abc"]
)
def test_malformed_request_ids_are_replaced(value: bytes) -> None:
    request_id, _ = _read_headers({"headers": [(b"x-request-id", value)]})
    assert request_id is None


def test_well_formed_request_ids_are_kept() -> None:
    request_id, _ = _read_headers({"headers": [(b"x-request-id", b"req-1234.abc_DEF")]})
    assert request_id == "req-1234.abc_DEF"


async def test_unexpected_errors_are_500_problems_without_internals(
    resources: Resources, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings())
    boom = APIRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("secret internals: postgresql://user:pw@db/prod")

    app.include_router(boom)
    app.state.resources = resources
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    body = assert_problem(response, 500, "server.error")
    assert "internals" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("unhandled error on GET /boom" in r.getMessage() for r in logged)
    assert body["request_id"]


async def test_a_saturated_database_pool_is_a_503_with_retry_after(
    fresh_db: FreshDatabase,
) -> None:
    """Every write connection busy for the pool timeout (a burst larger than the pool): the
    request is refused with 503 `server.busy` and `Retry-After`, never a 500."""
    if fresh_db.kind != "postgresql":
        pytest.skip("SQLite's connections are not pooled")
    await dbs.migrate(fresh_db.engine, "upgrade", "head")
    settings = make_settings(fresh_db.url)
    settings.db.pool_size, settings.db.max_overflow, settings.db.pool_timeout_s = 1, 0, 0.2
    resources = Resources.build(settings)
    app = create_app(settings, resources=resources)
    try:
        async with (
            resources.db.engine.connect() as held,  # the pool's only connection
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            await held.exec_driver_sql("SELECT 1")
            response = await c.post("/api/v1/auth/otp/request", json={"phone": "0912345678"})
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "2"
        assert response.json()["code"] == "server.busy"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:  # the connection is back: the same request goes through
            again = await c.post("/api/v1/auth/otp/request", json={"phone": "0912345678"})
        assert again.status_code == 202, again.text
    finally:
        await resources.aclose()
