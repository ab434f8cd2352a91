"""The SMS gateways, the HTTP one against a real stub server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from app.core.config import SmsSettings
from app.core.logging import JsonFormatter, SecretFilter, redact
from app.integrations.sms import (
    ConsoleSmsGateway,
    HttpSmsGateway,
    SmsError,
    SmsMessage,
    build_sms_gateway,
)
from tests.stubs import HANG, StubSmsServer

API_KEY = "sk-test-5f0c2e9b7a"
OTP_TEXT = "Ma xac thuc So tay dang vien: 493817. Hieu luc 5 phut."
MESSAGE = SmsMessage(to="+84912345678", text=OTP_TEXT, reference="otp-7d1f")


def http_settings(url: str, *, retries: int = 2, timeout_s: float = 5.0) -> SmsSettings:
    return SmsSettings(
        gateway="http",
        url=url,
        api_key=SecretStr(API_KEY),
        sender="SOTAYDANGVIEN",
        retries=retries,
        timeout_s=timeout_s,
    )


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[[SmsSettings], HttpSmsGateway]]:
    made: list[HttpSmsGateway] = []

    def make(settings: SmsSettings) -> HttpSmsGateway:
        gateway = HttpSmsGateway(settings)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.aclose()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/sms"


async def test_http_gateway_posts_json_with_bearer_key(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway]
) -> None:
    gateway = make_gateway(http_settings(sms_provider.url))

    await gateway.send(MESSAGE)

    [request] = sms_provider.requests
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "to": "+84912345678",
        "text": OTP_TEXT,
        "sender": "SOTAYDANGVIEN",
        "reference": "otp-7d1f",
    }


async def test_http_gateway_sends_no_authorization_without_key(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway]
) -> None:
    gateway = make_gateway(SmsSettings(gateway="http", url=sms_provider.url))

    await gateway.send(MESSAGE)

    [request] = sms_provider.requests
    assert "authorization" not in request.headers


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_http_gateway_accepts_any_2xx_at_once(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway], status: int
) -> None:
    sms_provider.script(status)
    gateway = make_gateway(http_settings(sms_provider.url))

    await gateway.send(MESSAGE)

    assert len(sms_provider.requests) == 1


@pytest.mark.parametrize("status", [503, 429])
async def test_http_gateway_retries_then_succeeds(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway], status: int
) -> None:
    sms_provider.script(status, status)
    gateway = make_gateway(http_settings(sms_provider.url, retries=2))

    await gateway.send(MESSAGE)

    assert len(sms_provider.requests) == 3
    assert len({r.body for r in sms_provider.requests}) == 1  # the same message each time


async def test_http_gateway_gives_up_after_retries_on_5xx(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway]
) -> None:
    sms_provider.script(500, 502, 503)
    gateway = make_gateway(http_settings(sms_provider.url, retries=1))

    with pytest.raises(SmsError, match="HTTP 502"):
        await gateway.send(MESSAGE)

    assert len(sms_provider.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_http_gateway_does_not_retry_client_errors(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway], status: int
) -> None:
    sms_provider.script(status)
    gateway = make_gateway(http_settings(sms_provider.url, retries=3))

    with pytest.raises(SmsError, match=f"HTTP {status}"):
        await gateway.send(MESSAGE)

    assert len(sms_provider.requests) == 1


async def test_http_gateway_times_out_and_retries_a_silent_server(
    sms_provider: StubSmsServer, make_gateway: Callable[[SmsSettings], HttpSmsGateway]
) -> None:
    sms_provider.script(HANG, HANG)
    gateway = make_gateway(http_settings(sms_provider.url, retries=1, timeout_s=0.2))

    with pytest.raises(SmsError, match="ReadTimeout"):
        await gateway.send(MESSAGE)

    # Both attempts reached the server (it records them as it reads them).
    assert len(sms_provider.wait_for_requests(2)) == 2


async def test_http_gateway_unreachable_raises_sms_error(
    make_gateway: Callable[[SmsSettings], HttpSmsGateway],
) -> None:
    gateway = make_gateway(http_settings(closed_port_url(), retries=1))

    with pytest.raises(SmsError, match="ConnectError"):
        await gateway.send(MESSAGE)


async def test_http_gateway_never_logs_text_or_key(
    sms_provider: StubSmsServer,
    make_gateway: Callable[[SmsSettings], HttpSmsGateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    sms_provider.script(503, 200, 400)
    gateway = make_gateway(http_settings(sms_provider.url, retries=2))

    await gateway.send(MESSAGE)
    with pytest.raises(SmsError):
        await gateway.send(MESSAGE)

    outcomes = {r.getMessage(): r for r in caplog.records if r.name == "app.sms"}
    assert set(outcomes) == {"sms sent", "sms failed"}
    assert outcomes["sms sent"].__dict__["reference"] == "otp-7d1f"
    assert outcomes["sms failed"].__dict__["error"] == "HTTP 400"
    formatter = JsonFormatter()
    for record in caplog.records:
        rendered = record.getMessage() + formatter.format(record)
        assert OTP_TEXT not in rendered
        assert "493817" not in rendered
        assert API_KEY not in rendered


async def test_build_sms_gateway_http_sends_to_configured_url(sms_provider: StubSmsServer) -> None:
    gateway = build_sms_gateway(http_settings(sms_provider.url))
    try:
        assert isinstance(gateway, HttpSmsGateway)
        await gateway.send(MESSAGE)
    finally:
        await gateway.aclose()

    assert [r.json()["to"] for r in sms_provider.requests] == ["+84912345678"]


def test_build_sms_gateway_defaults_to_console() -> None:
    assert isinstance(build_sms_gateway(SmsSettings()), ConsoleSmsGateway)


async def test_console_gateway_keeps_and_logs_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.sms")
    gateway = ConsoleSmsGateway()
    other = SmsMessage(to="+84987654321", text="OTP code: 111222", reference="otp-2")

    await gateway.send(MESSAGE)
    await gateway.send(other)

    assert list(gateway.sent) == [MESSAGE, other]
    [first, second] = [r for r in caplog.records if r.name == "app.sms"]
    assert first.levelno == logging.WARNING
    assert "+84912345678" in first.getMessage()
    assert OTP_TEXT in first.getMessage()
    assert "111222" in second.getMessage()
    # The one sanctioned exception (dev only): the secret filter, which masks such codes
    # everywhere else, lets them through.
    assert "111222" not in redact(second.getMessage())
    assert SecretFilter().filter(second)
    assert "111222" in second.getMessage()


async def test_console_gateway_keeps_only_the_latest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="app.sms")
    gateway = ConsoleSmsGateway(keep=2)
    messages = [SmsMessage(to="+84912345678", text=f"m{i}", reference=f"r{i}") for i in range(3)]

    for message in messages:
        await gateway.send(message)

    assert list(gateway.sent) == messages[1:]
