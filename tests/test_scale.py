"""Horizontal scale, proven on this machine: two `handbook api` processes and two `handbook worker`
processes against one PostgreSQL database and one Redis.

- a token issued by API A works on API B, is refreshed on B, and a replay of its refresh token
  on A ends the session on B at once;
- OTP send limits are shared: requests alternating between A and B hit the per-phone limit
  (in the database) and the per-IP limit (in Redis) at the same count as requests to A alone;
- a notice is delivered once although both workers run, and the worker killed mid-batch loses
  nothing (the survivor takes its expired leases; `tests/processes.py` holds the scenario).

PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL, default db 11 on 127.0.0.1:6379) only:
the test is skipped, saying which is missing, elsewhere. Redis keys of earlier runs cannot
collide: every run uses client addresses (X-Forwarded-For from a trusted 127.0.0.1) of its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.bench.fcm_stub import FcmStub
from app.core.config import AuthSettings
from app.core.security import PasswordHasher
from app.models import NoticeKind, OrgKind, WorkerHeartbeat
from app.services import notices
from app.services.notices import Audience
from tests import dbs, processes
from tests.factories import make_member, make_org
from tests.worker.conftest import add_device

pytestmark = pytest.mark.scale

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
MEMBERS = 40
PASSWORD = "Sổ tay đảng viên 2026!"
OTP_PER_PHONE = 3
OTP_PER_IP = 4


def _require_services() -> None:
    if not dbs.postgres_admin_url():
        pytest.skip(
            "horizontal scale needs PostgreSQL (set TEST_DATABASE_URL): an SQLite file is one "
            "host's database"
        )
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except RedisError as exc:
        pytest.skip(f"horizontal scale needs Redis at {REDIS_URL} (TEST_REDIS_URL): {exc}")
    finally:
        client.close()


def _run_ips() -> list[str]:
    """Client addresses of this run (198.18.0.0/15 is for tests; they are only a header here),
    their counts from any earlier run cleared from the test's Redis database."""
    from redis import Redis

    block = random.SystemRandom().randrange(0, 512)
    ips = [f"198.{18 + block // 256}.{block % 256}.{n}" for n in range(1, 255)]
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.delete(
            *(f"handbook:rl:{kind}:ip:{ip}" for ip in ips for kind in ("otp-request", "login"))
        )
    finally:
        client.close()
    return ips


def _phones(count: int) -> list[str]:
    first = random.SystemRandom().randrange(0, 10**7 - count)
    return [f"+8498{first + n:07d}" for n in range(count)]


def _otp(api: httpx.Client, phone: str, ip: str) -> tuple[int, str | None]:
    response = api.post(
        "/api/v1/auth/otp/request", json={"phone": phone}, headers={"X-Forwarded-For": ip}
    )
    code = response.json().get("code") if response.status_code >= 400 else None
    return response.status_code, code


async def test_two_apis_and_two_workers_share_one_database_and_one_redis(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    worker_id: str,
    fcm_stub: FcmStub,
    service_account: dict[str, Any],
) -> None:
    _require_services()
    async with dbs.fresh_database("postgresql", f"scale_{worker_id}", tmp_path_factory) as (
        url,
        engine,
    ):
        await dbs.migrate(engine)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh")
            branches = [await make_org(session, root, name=f"Chi bộ {n}") for n in range(4)]
            members = [
                await make_member(session, branches[n % 4], full_name=f"Đảng Viên {n:03d}")
                for n in range(MEMBERS)
            ]
            tokens = {(await add_device(session, m.id)).token for m in members}
            elsewhere = await make_org(session, name="Chi bộ ngoài thông báo")
            secretary = await make_member(
                session,
                elsewhere,
                full_name="Trần Thị Bí Thư",
                password_hash=await PasswordHasher(AuthSettings()).hash(PASSWORD),
            )
            await session.commit()

        secret = secrets.token_urlsafe(48)
        shared = {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "AUTH__SECRET_KEY": secret,
            "AUTH__OTP_COOLDOWN_S": "0",
            "AUTH__OTP_PER_HOUR": str(OTP_PER_PHONE),
            "AUTH__OTP_REQUESTS_PER_IP_PER_HOUR": str(OTP_PER_IP),
        }
        api_env = processes.clean_env(
            ENV="prod",
            DATA_DIR=str(tmp_path / "api"),
            SMS__GATEWAY="http",
            SMS__URL="http://127.0.0.1:9/send",  # no SMS goes out: only unknown numbers ask
            FORWARDED_ALLOW_IPS="127.0.0.1",
            **shared,
        )
        work_env = processes.worker_env(
            url, fcm_stub, service_account, tmp_path / "worker", **shared
        )
        ports = processes.free_port(), processes.free_port()
        started: list[subprocess.Popen[bytes]] = []
        try:
            # A first, alone: it compiles the bytecode the other three then start from.
            started.append(processes.start_api(api_env, tmp_path / "api-0.log", ports[0]))
            _wait_ready(ports[0], started[0], tmp_path)
            started.append(processes.start_api(api_env, tmp_path / "api-1.log", ports[1]))
            workers = [
                processes.start_worker(work_env, tmp_path / f"worker-{n}.log") for n in range(2)
            ]
            started += workers
            _wait_ready(ports[1], started[1], tmp_path)
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as a,
                httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as b,
            ):
                ips = iter(_run_ips())
                _a_token_issued_by_one_api_works_on_the_other(
                    a, b, secretary.phone or "", next(ips)
                )
                _otp_limits_are_shared(a, b, ips)
            await _a_notice_is_delivered_once_by_two_workers_one_killed(
                engine, fcm_stub, workers, tokens, root.id, tmp_path
            )
        finally:
            fcm_stub.delay_s = 0.0
            processes.stop(started)


def _wait_ready(port: int, api: subprocess.Popen[bytes], folder: Path) -> None:
    ready = processes.wait_ready(port, api)
    assert ready is not None, "an API did not start:\n" + processes.logs(folder)
    assert ready.status_code == 200, ready.text


def _a_token_issued_by_one_api_works_on_the_other(
    a: httpx.Client, b: httpx.Client, phone: str, ip: str
) -> None:
    login = a.post(
        "/api/v1/auth/password/login",
        json={"phone": phone, "password": PASSWORD},
        headers={"X-Forwarded-For": ip},
    )
    assert login.status_code == 200, login.text
    pair = login.json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    home = b.get("/api/v1/me/home", headers=bearer)
    assert home.status_code == 200, home.text
    refreshed = b.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new_bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert a.get("/api/v1/me/home", headers=new_bearer).status_code == 200
    # A refresh token is single use on every replica: replayed on A, it ends the session,
    # and the access token B handed out is refused on B at once.
    again = a.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401, again.text
    refused = b.get("/api/v1/me/home", headers=new_bearer)
    assert refused.status_code == 401, refused.text


def _otp_limits_are_shared(a: httpx.Client, b: httpx.Client, ips: Iterator[str]) -> None:
    # Per phone (counted in the database): one number, each request from another address.
    one_phone, alternating_phone = _phones(2)
    alone = [_otp(a, one_phone, next(ips)) for _ in range(OTP_PER_PHONE + 1)]
    split = [_otp((a, b)[n % 2], alternating_phone, next(ips)) for n in range(OTP_PER_PHONE + 1)]
    expected = [(202, None)] * OTP_PER_PHONE + [(429, "auth.otp_hourly_limit")]
    assert alone == split == expected
    # Per client address (counted in Redis): one address, a new number each time.
    ip_alone, ip_split = next(ips), next(ips)
    numbers = iter(_phones(2 * (OTP_PER_IP + 1)))
    alone = [_otp(a, next(numbers), ip_alone) for _ in range(OTP_PER_IP + 1)]
    split = [_otp((a, b)[n % 2], next(numbers), ip_split) for n in range(OTP_PER_IP + 1)]
    expected = [(202, None)] * OTP_PER_IP + [(429, "rate.limited")]
    assert alone == split == expected


async def _a_notice_is_delivered_once_by_two_workers_one_killed(
    engine: AsyncEngine,
    stub: FcmStub,
    workers: list[subprocess.Popen[bytes]],
    tokens: set[str],
    org_id: int,
    folder: Path,
) -> None:
    give_up = time.monotonic() + processes.DEADLINE_S
    async with AsyncSession(engine, expire_on_commit=False) as session:  # workers up first
        while True:
            pids = set(await session.scalars(select(WorkerHeartbeat.pid)))
            if {w.pid for w in workers} <= pids:
                break
            assert time.monotonic() < give_up, "a worker never came up:\n" + processes.logs(folder)
            await session.rollback()
            await asyncio.sleep(0.1)
        notice = await notices.notify(
            session,
            kind=NoticeKind.GENERAL,
            title="Thông báo toàn tỉnh",
            body="Nghị quyết mới đã được ban hành.",
            audience=Audience(org_id=org_id),
        )
        await session.commit()
        notice_id = notice.id
    stub.reset()
    stub.delay_s = 0.2  # a batch is in flight long enough to be killed in the middle
    await processes.kill_a_delivering_worker(engine, stub, workers, folder, give_up)
    await processes.wait_delivered(engine, notice_id, give_up)
    stub.delay_s = 0.0
    await processes.assert_delivered_once(engine, notice_id, stub, tokens, folder)
