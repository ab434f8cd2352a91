"""Worker fixtures: a hand-moved clock, a worker on the test's connection, the FCM stub.

The worker here runs one job at a time (`concurrency=1`): its transactions are SAVEPOINTs on the
test's one connection, which two jobs could not share. Tests that need real concurrency (several
processes, SKIP LOCKED) use a database of their own with committed data (`test_processes.py`,
its helpers in `tests/processes.py`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.bench.fcm_stub import FcmStub
from app.core.clock import ManualClock
from app.core.config import FcmSettings
from app.integrations.fcm import build_push_gateway
from app.models import Device
from app.resources import Resources
from app.schemas.notification import DeviceRegister
from app.services import devices as device_service
from app.worker.runner import Worker

# 08:00 in Hà Nội (UTC+7) on a Tuesday.
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def worker(resources: Resources, clock: ManualClock) -> Worker:
    worker = Worker(resources, clock=clock, worker_id="test-worker", concurrency=1)
    worker.state_write_delays = (0.01, 0.01)
    return worker


def fcm_settings(
    stub: FcmStub, info: dict[str, Any], sender: str = "firebase-admin"
) -> FcmSettings:
    return FcmSettings(
        credentials_json=SecretStr(json.dumps(info)),
        send_url=stub.send_url(),
        sender=sender,  # type: ignore[arg-type]
        rate_per_s=0,
        retry_base_s=10,
        timeout_s=20,
    )


@pytest.fixture(params=["firebase-admin", "lean"])
def sender(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def push(
    resources: Resources, fcm_stub: FcmStub, service_account: dict[str, Any], sender: str
) -> AsyncIterator[FcmStub]:
    """Real pushes from the worker (the real SDK, or the lean sender) to the stub."""
    gateway = build_push_gateway(fcm_settings(fcm_stub, service_account, sender))
    resources.push = gateway
    fcm_stub.reset()
    try:
        yield fcm_stub
    finally:
        await gateway.aclose()


TOKEN_TAIL = "APA91b" + "x" * 140


async def add_device(
    session: AsyncSession, member_id: int, prefix: str = "tok", platform: str = "android"
) -> Device:
    read = await device_service.register_device(
        session,
        member_id,
        DeviceRegister(token=f"{prefix}-{member_id}-{TOKEN_TAIL}", platform=platform),  # type: ignore[arg-type]
    )
    device = await session.get(Device, read.id)
    assert device is not None
    return device
