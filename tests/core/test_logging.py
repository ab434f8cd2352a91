"""Structured logging: secret masking and the JSON line format."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import orjson
import pytest

from app.core.logging import JsonFormatter, SecretFilter, TextFormatter, redact, request_id_var

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@pytest.fixture
def request_id() -> Iterator[str]:
    token = request_id_var.set("req-5b1e")
    try:
        yield "req-5b1e"
    finally:
        request_id_var.reset(token)


def make_record(
    msg: str,
    *args: object,
    extra: dict[str, Any] | None = None,
    exc_info: ExcInfo | None = None,
) -> logging.LogRecord:
    return logging.getLogger("app.test").makeRecord(
        "app.test", logging.INFO, __file__, 1, msg, args, exc_info, extra=extra
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("bearer eyJhbGciOi.eyJzdWIi.sig-_~+/=", "bearer ***"),
        (
            '{"password": "x", "phone": "+84912345678"}',
            '{"password": "***", "phone": "+84912345678"}',
        ),
        ('{"password":"correct horse, battery"}', '{"password":"***"}'),
        ("{'password': 'hunter2', 'n': 1}", "{'password': '***', 'n': 1}"),
        ("refresh_token=9f8e7d6c5b4a next", "refresh_token=*** next"),
        ('"access_token": "eyJ.abc.def"', '"access_token": "***"'),
        ("api_key: sk-123", "api_key: ***"),
        ("client_secret=abc", "client_secret=***"),
        ("otp=123456", "otp=***"),
        ('{"code": "123456"}', '{"code": "***"}'),
        ("{'code': '654321'}", "{'code': '***'}"),
    ],
)
def test_redact_masks_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "member 42 checked in to meeting 7",
        "password reset requested for member 42",
        "OTP sent to +84912345678 (challenge 3f2a)",
        "HTTP 503 from sms gateway after 3 attempts",
        "Chi bộ Khu phố 1: 12/15 đảng viên có mặt",
        "error code 404",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_secret_filter_masks_formatted_message() -> None:
    record = make_record("login with %s for %s", "Bearer abc.def", "+84912345678")

    assert SecretFilter().filter(record)

    assert record.getMessage() == "login with Bearer *** for +84912345678"


def test_secret_filter_leaves_clean_record_untouched() -> None:
    record = make_record("member %d checked in", 42)

    assert SecretFilter().filter(record)

    assert (record.msg, record.args) == ("member %d checked in", (42,))


def test_secret_filter_lets_allowed_secret_through() -> None:
    record = make_record("DEV SMS: otp=123456", extra={"allow_secret": True})

    assert SecretFilter().filter(record)

    assert record.getMessage() == "DEV SMS: otp=123456"


def test_json_formatter_writes_one_object_with_request_id_and_extras(request_id: str) -> None:
    record = make_record(
        "sms sent to %s", "+84912345678", extra={"reference": "otp-7d1f", "attempt": 2}
    )

    line = JsonFormatter().format(record)

    entry = orjson.loads(line)
    assert "\n" not in line
    assert entry["request_id"] == request_id
    assert entry["msg"] == "sms sent to +84912345678"
    assert (entry["level"], entry["logger"]) == ("info", "app.test")
    assert (entry["reference"], entry["attempt"]) == ("otp-7d1f", 2)
    assert entry["ts"].endswith("+00:00")
    assert "args" not in entry
    assert "allow_secret" not in entry


def test_json_formatter_omits_request_id_outside_requests() -> None:
    entry = orjson.loads(JsonFormatter().format(make_record("worker tick")))

    assert "request_id" not in entry


def test_json_formatter_hides_allow_secret_flag() -> None:
    record = make_record("DEV SMS", extra={"allow_secret": True})

    assert "allow_secret" not in orjson.loads(JsonFormatter().format(record))


def test_json_formatter_includes_exception_and_unserialisable_extras() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_type, exc, tb = sys.exc_info()
        assert exc_type is not None
        assert exc is not None
        record = make_record("failed", extra={"path": object()}, exc_info=(exc_type, exc, tb))

    entry = orjson.loads(JsonFormatter().format(record))

    assert "ValueError: boom" in entry["exc"]
    assert entry["path"].startswith("<object object")


def test_text_formatter_appends_request_id(request_id: str) -> None:
    line = TextFormatter("%(levelname)s %(message)s").format(make_record("hello"))

    assert line == f"INFO hello [{request_id}]"
