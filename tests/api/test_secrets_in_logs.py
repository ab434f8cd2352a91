"""Secrets never reach the logs: OTP codes, tokens, passwords (with the real SMS gateway)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import SmsSettings
from app.core.logging import JsonFormatter, SecretFilter
from app.integrations.sms import HttpSmsGateway
from app.resources import Resources
from tests.factories import Tree
from tests.stubs import StubSmsServer


@pytest.fixture
async def real_sms(
    resources: Resources, sms_provider: StubSmsServer
) -> AsyncIterator[HttpSmsGateway]:
    gateway = HttpSmsGateway(
        SmsSettings(gateway="http", url=sms_provider.url, api_key=SecretStr("sms-key-abcdef123456"))
    )
    resources.sms = gateway
    yield gateway
    await gateway.aclose()


def rendered(records: list[logging.LogRecord]) -> str:
    """Every record as the production handler would write it (filter, then JSON)."""
    secret_filter, formatter = SecretFilter(), JsonFormatter()
    lines = []
    for record in records:
        secret_filter.filter(record)
        lines.append(formatter.format(record))
    return "\n".join(lines)


@pytest.mark.usefixtures("real_sms")
async def test_a_full_login_logs_no_secret(
    client: httpx.AsyncClient,
    tree: Tree,
    sms_provider: StubSmsServer,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = tree.member.phone or ""
    issued = await client.post("/api/v1/auth/otp/request", json={"phone": phone})
    sent = sms_provider.wait_for_requests(1)
    code_match = re.search(r"\b(\d{6})\b", sent[0].json()["text"])
    assert code_match
    code = code_match.group(1)
    tokens = (
        await client.post(
            "/api/v1/auth/otp/verify",
            json={"challenge_id": issued.json()["challenge_id"], "code": code},
        )
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    password = "Mật khẩu bí mật 2026"
    assert (
        await client.put("/api/v1/auth/password", json={"new_password": password}, headers=bearer)
    ).status_code == 204
    await client.post("/api/v1/auth/password/login", json={"phone": phone, "password": "sai rồi"})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    log_text = rendered(caplog.records)
    assert caplog.records, "the flow should have logged something"
    for secret in (
        code,
        tokens["access_token"],
        tokens["refresh_token"],
        password,
        "sai rồi",
        "sms-key-abcdef123456",
    ):
        assert secret not in log_text
