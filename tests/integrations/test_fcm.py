"""The FCM integration without a database: outcome mapping, the payload guard, the gateway's
Retry-After pause and rate cap, configuration errors, and tokens kept out of reprs and logs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from app.bench.fcm_stub import FcmStub
from app.core.config import FcmSettings
from app.integrations import fcm
from app.integrations.fcm import PushMessage, PushOutcome, PushResult, classify

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
TOKEN = "dGhpcyBpcyBhIHRva2Vu:APA91b" + "Q" * 120


def message(n: int = 0, token: str = TOKEN) -> PushMessage:
    return PushMessage(
        token=token,
        title="Họp chi bộ",
        body="19:30 tối nay",
        data={"meeting_id": "42"},
        collapse_key="notice-1",
        message_id=str(n),
    )


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (200, None, PushOutcome.SENT),
        (404, "UNREGISTERED", PushOutcome.UNREGISTERED),
        (404, None, PushOutcome.UNREGISTERED),
        (400, "INVALID_ARGUMENT", PushOutcome.INVALID),
        (403, "SENDER_ID_MISMATCH", PushOutcome.INVALID),
        (429, "QUOTA_EXCEEDED", PushOutcome.RETRY),
        (500, "INTERNAL", PushOutcome.RETRY),
        (503, None, PushOutcome.RETRY),
        (401, None, PushOutcome.RETRY),
        (403, "THIRD_PARTY_AUTH_ERROR", PushOutcome.FAILED),
    ],
)
def test_fcm_answers_map_to_outcomes(status: int, code: str | None, outcome: PushOutcome) -> None:
    assert classify(status, code, None).outcome is outcome


def test_quota_exceeded_without_retry_after_waits_a_minute() -> None:
    assert classify(429, "QUOTA_EXCEEDED", None).retry_after_s == fcm.DEFAULT_RETRY_AFTER_S
    assert classify(429, "QUOTA_EXCEEDED", 7.0).retry_after_s == 7.0


def test_a_batch_refused_entirely_as_invalid_is_a_payload_problem() -> None:
    invalid = PushResult(PushOutcome.INVALID, error="INVALID_ARGUMENT")
    assert [r.outcome for r in fcm.guard_payload_errors([invalid, invalid])] == [
        PushOutcome.FAILED,
        PushOutcome.FAILED,
    ]
    mixed = [invalid, PushResult(PushOutcome.SENT)]
    assert fcm.guard_payload_errors(mixed) == mixed
    assert fcm.guard_payload_errors([invalid]) == [invalid]


def test_a_message_never_shows_its_token() -> None:
    assert TOKEN not in repr(message())
    assert TOKEN not in str(message())


def test_credentials_must_be_a_service_account() -> None:
    with pytest.raises(fcm.ConfigError):
        fcm.load_service_account(
            FcmSettings(credentials_json=SecretStr(json.dumps({"type": "authorized_user"})))
        )
    assert fcm.load_service_account(FcmSettings()) is None
    assert not fcm.build_push_gateway(FcmSettings()).enabled


class Recording:
    name = "recording"

    def __init__(self, answers: list[PushResult]) -> None:
        self.answers = answers
        self.calls: list[int] = []

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        self.calls.append(len(messages))
        return [
            self.answers.pop(0) if self.answers else PushResult(PushOutcome.SENT) for _ in messages
        ]

    async def aclose(self) -> None:
        return None


async def test_the_gateway_pauses_after_quota_exceeded_until_retry_after() -> None:
    sender = Recording([PushResult(PushOutcome.RETRY, retry_after_s=30, error="QUOTA_EXCEEDED")])
    gateway = fcm.PushGateway(sender, FcmSettings(rate_per_s=0), enabled=True)
    first = await gateway.send([message(1), message(2)], now=NOW)
    assert [r.outcome for r in first] == [PushOutcome.RETRY, PushOutcome.SENT]
    paused = await gateway.send([message(3)], now=NOW + timedelta(seconds=10))
    assert paused[0].outcome is PushOutcome.RETRY
    assert paused[0].retry_after_s == pytest.approx(20)
    assert sender.calls == [2]  # nothing went to FCM while paused
    after = await gateway.send([message(3)], now=NOW + timedelta(seconds=30))
    assert after[0].outcome is PushOutcome.SENT


async def test_the_gateway_splits_batches_and_caps_the_rate() -> None:
    sender = Recording([])
    gateway = fcm.PushGateway(sender, FcmSettings(rate_per_s=2000, batch_size=100), enabled=True)
    gateway.share = 0.5  # two live workers share the project's rate
    loop = asyncio.get_running_loop()
    started = loop.time()
    await gateway.send([message(n) for n in range(1500)], now=NOW)
    assert sender.calls == [100] * 15
    # 1,000 a second for this worker, a burst of one second: the last 500 wait ~0.5 s.
    assert loop.time() - started >= 0.4


async def test_sending_logs_no_device_token(
    fcm_stub: FcmStub, service_account: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.worker.conftest import fcm_settings

    caplog.set_level(logging.DEBUG)
    for sender in ("firebase-admin", "lean"):
        gateway = fcm.build_push_gateway(fcm_settings(fcm_stub, service_account, sender))
        fcm_stub.script(429, 500)
        results = await gateway.send(
            [
                message(1),
                message(2, "unregistered-" + TOKEN),
                message(3, "invalid-" + TOKEN),
            ],
            now=NOW,
        )
        assert {r.outcome for r in results} >= {PushOutcome.RETRY}
        await gateway.aclose()
    assert TOKEN not in caplog.text
    assert fcm_stub.access_token not in caplog.text
