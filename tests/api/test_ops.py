"""Health, readiness and metrics."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import SecretStr

from app.core import metrics
from app.core.config import Env, OpsSettings, Settings
from app.core.db import Database
from app.integrations.sms import ConsoleSmsGateway
from app.main import create_app
from app.resources import Resources
from tests.conftest import METRICS_HEADERS, METRICS_TOKEN, ActorLogin, make_settings
from tests.factories import Tree
from tests.http import assert_problem


async def test_health_answers_without_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_not_ready_when_the_database_is_down() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere")
    resources = Resources.build(settings, db=Database.open(settings))
    app = create_app(settings, resources=resources)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        await resources.aclose()
    assert_problem(response, 503, "ops.database_unavailable")
    assert health.status_code == 200


async def test_metrics_count_requests_by_operation(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/api/v1/nowhere")
    response = await client.get("/metrics", headers=METRICS_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'http_request_duration_seconds_count{method="GET",route="get_health",status="200"}' in text
    )
    assert 'route="unmatched",status="404"' in text


async def test_metrics_count_codes_sent_and_logins(
    client: httpx.AsyncClient, tree: Tree, sms: ConsoleSmsGateway
) -> None:
    before = {
        "sent": metrics.OTP_SENT._value.get(),
        "otp": metrics.LOGINS.labels("otp")._value.get(),
    }
    issued = await client.post("/api/v1/auth/otp/request", json={"phone": tree.member.phone})
    code = re.search(r"\b(\d{6})\b", sms.sent[-1].text)
    assert code
    verified = await client.post(
        "/api/v1/auth/otp/verify",
        json={"challenge_id": issued.json()["challenge_id"], "code": code.group(1)},
    )
    assert verified.status_code == 200
    assert metrics.OTP_SENT._value.get() == before["sent"] + 1
    assert metrics.LOGINS.labels("otp")._value.get() == before["otp"] + 1
    text = (await client.get("/metrics", headers=METRICS_HEADERS)).text
    assert "otp_sent_total" in text
    assert 'logins_total{method="otp"}' in text


async def _get(
    settings: Settings, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers or {})


def _settings(env: Env, token: str = "") -> Settings:
    return make_settings().model_copy(
        update={"env": env, "ops": OpsSettings(metrics_token=SecretStr(token))}
    )


async def test_metrics_are_not_served_in_prod_without_a_token() -> None:
    response = await _get(_settings(Env.PROD), "/metrics")
    assert_problem(response, 404, "ops.metrics_disabled")


@pytest.mark.parametrize("env", [Env.PROD, Env.DEV])
async def test_metrics_need_the_operators_token_when_one_is_set(
    env: Env, client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    settings = _settings(env, METRICS_TOKEN)
    anonymous = await _get(settings, "/metrics")
    wrong = await _get(settings, "/metrics", {"Authorization": "Bearer " + "x" * 44})
    # A member's access token (even an admin's) is not the operators' token.
    admin = await _get(settings, "/metrics", await as_actor(tree.admin.id))
    right = await _get(settings, "/metrics", METRICS_HEADERS)
    assert [anonymous.status_code, wrong.status_code, admin.status_code] == [401, 401, 401]
    assert anonymous.json()["code"] == "ops.metrics_token_invalid"
    assert "www-authenticate" in anonymous.headers
    assert right.status_code == 200
    assert "http_request_duration_seconds" in right.text


async def test_metrics_are_open_in_dev_without_a_token() -> None:
    response = await _get(_settings(Env.DEV), "/metrics")
    assert response.status_code == 200


async def test_otp_requests_count_the_same_for_unknown_numbers(
    client: httpx.AsyncClient, tree: Tree
) -> None:
    before = metrics.OTP_REQUESTS._value.get()
    known = await client.post("/api/v1/auth/otp/request", json={"phone": tree.member.phone})
    assert metrics.OTP_REQUESTS._value.get() == before + 1
    unknown = await client.post("/api/v1/auth/otp/request", json={"phone": "0987 654 321"})
    assert known.status_code == unknown.status_code == 202
    assert metrics.OTP_REQUESTS._value.get() == before + 2


async def test_readiness_failures_are_counted() -> None:
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("readiness_failures_total") or 0.0
    await test_not_ready_when_the_database_is_down()
    assert REGISTRY.get_sample_value("readiness_failures_total") == before + 1


async def test_pool_gauges_follow_the_connections_in_use() -> None:
    from tests import dbs

    url = dbs.postgres_admin_url()
    if url is None:
        pytest.skip("PostgreSQL pools only (TEST_DATABASE_URL)")
    settings = make_settings(url)
    database = Database.open(settings)
    capacity = settings.db.pool_size + settings.db.max_overflow
    try:
        assert database.pool_stats() == (0, 0, capacity)
        async with database.engine.connect():
            assert database.pool_stats() == (1, 0, capacity)
        assert database.pool_stats() == (0, 1, capacity)
        metrics.record_pool("orm", in_use=1, idle=2, capacity=capacity)
        body, _ = metrics.render()
        assert b'db_pool_connections{pool="orm",state="idle"} 2.0' in body
    finally:
        await database.close()


def test_opentelemetry_is_off_unless_asked_for() -> None:
    """FastAPI's OpenTelemetry (`OPS__OPENTELEMETRY`): off by default, so no request looks for
    a configured provider; on, FastAPI's defaults (spans, metrics, logs) apply."""
    off = create_app(make_settings())._telemetry
    on = create_app(
        make_settings().model_copy(update={"ops": OpsSettings(opentelemetry=True)})
    )._telemetry
    assert (off["tracing"], off["metrics"], off["logs"]) == (False, False, False)
    assert (on["tracing"], on["metrics"], on["logs"]) == (True, True, True)
