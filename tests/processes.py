"""Real `handbook api` and `handbook worker` processes for the tests that need them (the image
install, workers killed mid-batch, horizontal scale): their environments, starting, waiting,
logs and stopping, and the shared scenario of a worker killed while it delivers a notice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.bench.fcm_stub import FcmStub
from app.models import Delivery, Job, JobStatus, Notification
from app.services.notices import DELIVER_JOB, FANOUT_JOB

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 90
# Settings a test's process must not inherit from the developer's or CI's environment.
_OURS = ("AUTH__", "SMS__", "DB__", "WORKER__", "FCM__", "NOTIFY__", "API__", "OPS__", "LOG__")
_FLAT = ("ENV", "DATABASE_URL", "REDIS_URL", "DATA_DIR", "FORWARDED_ALLOW_IPS", "PUBLIC_BASE_URL")
# Bytecode the processes share (the environment may forbid writing it next to the sources, and
# the venv may hold none): the first process compiles, the others start several times faster.
PYCACHE = Path(tempfile.gettempdir()) / "handbook-test-pycache"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any handbook setting, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(_OURS)
        and key.upper() not in _FLAT
        and key != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        LOG__JSON_FORMAT="true",
        LOG__LEVEL="INFO",
    )
    env.update(settings)
    return env


def worker_env(
    url: str, stub: FcmStub, info: dict[str, Any], data_dir: Path, **settings: str
) -> dict[str, str]:
    """A worker that claims fast, leases briefly (a killed worker's jobs come back within
    seconds) and pushes with the real firebase-admin SDK to the FCM stub."""
    defaults = {
        "ENV": "dev",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": url,
        "WORKER__CONCURRENCY": "2",
        "WORKER__POLL_INTERVAL_S": "0.1",
        "WORKER__LEASE_S": "3",
        "WORKER__HEARTBEAT_INTERVAL_S": "0.5",
        "WORKER__SHUTDOWN_GRACE_S": "5",
        "NOTIFY__CHUNK_MEMBERS": "10",
        "FCM__CREDENTIALS_JSON": json.dumps(info),
        "FCM__SEND_URL": stub.send_url(),
        "FCM__SENDER": "firebase-admin",  # the real SDK, in real processes
        "FCM__RATE_PER_S": "0",
        "FCM__TIMEOUT_S": "20",
    }
    return clean_env(**{**defaults, **settings})


def start(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`handbook ARGS` from this checkout, its output in `log`."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "app.cli", *args],
        cwd=log.parent,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start(["worker"], env, log)


def start_api(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    return start(["api", "--port", str(port)], env, log)


def wait_ready(
    port: int, process: subprocess.Popen[Any], deadline_s: float = DEADLINE_S, path: str = "/readyz"
) -> httpx.Response | None:
    """The first answer of the API on `port` (None if it exited or never answered in time)."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up and process.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
        except httpx.TransportError:
            time.sleep(0.25)
    return None


def logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(folder.glob("*.log")))


def stop(processes: Iterable[subprocess.Popen[Any] | None], timeout_s: float = 60) -> list[int]:
    """SIGTERM each running process, wait (killing what outlives `timeout_s`); exit codes."""
    running = [p for p in processes if p is not None]
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process in running:
        try:
            codes.append(process.wait(timeout_s))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait(10))
    return codes


async def open_deliveries(session: AsyncSession, notice_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                Delivery.notice_id == notice_id, Delivery.status == "pending"
            )
        )
        or 0
    )


async def kill_a_delivering_worker(
    engine: AsyncEngine,
    stub: FcmStub,
    workers: Sequence[subprocess.Popen[bytes]],
    folder: Path,
    give_up: float,
) -> subprocess.Popen[bytes]:
    """Wait until pushes reach the stub while one of `workers` holds a delivery lease, then
    SIGKILL that worker (mid-batch: no cleanup, its leases just stop being renewed)."""
    victim = None
    async with AsyncSession(engine) as session:
        while victim is None and time.monotonic() < give_up:
            exited = [p for p in workers if p.poll() is not None]
            assert not exited, "a worker exited:\n" + logs(folder)
            owners = await session.scalars(
                select(Job.lease_owner).where(
                    Job.kind == DELIVER_JOB, Job.status == JobStatus.RUNNING
                )
            )
            pids = {int(owner.split(":")[1]) for owner in owners if owner}
            if stub.stats.accepted:
                victim = next((p for p in workers if p.pid in pids), None)
            await session.rollback()
            await asyncio.sleep(0.02)
    assert victim is not None, "no worker was seen delivering:\n" + logs(folder)
    victim.kill()
    victim.wait(10)
    return victim


async def wait_delivered(engine: AsyncEngine, notice_id: int, give_up: float) -> None:
    """Until no notice job is left to run and no delivery of `notice_id` is pending."""
    async with AsyncSession(engine) as session:
        while time.monotonic() < give_up:
            busy = await session.scalar(
                select(func.count()).where(
                    Job.kind.in_([FANOUT_JOB, DELIVER_JOB]),
                    Job.status.in_(["queued", "running", "failed"]),
                )
            )
            if not busy and not await open_deliveries(session, notice_id):
                return
            await session.rollback()
            await asyncio.sleep(0.2)


async def assert_delivered_once(
    engine: AsyncEngine, notice_id: int, stub: FcmStub, tokens: set[str], folder: Path
) -> None:
    """Every member's delivery sent, one inbox row each, no dead job; every device got the
    notice, and any repeat carried the same idempotency key (FCM shows it once)."""
    members = len(tokens)
    async with AsyncSession(engine) as session:
        statuses = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.notice_id == notice_id)
                    .group_by(Delivery.status)
                )
            ).all()
        )
        assert statuses == {"sent": members}, logs(folder)[-3000:]
        inbox = await session.scalar(
            select(func.count(func.distinct(Notification.member_id))).where(
                Notification.notice_id == notice_id
            )
        )
        rows = await session.scalar(select(func.count()).where(Notification.notice_id == notice_id))
        assert inbox == rows == members
        dead = await session.scalar(select(func.count()).where(Job.status == JobStatus.DEAD))
        assert dead == 0
    stats = stub.stats
    assert set(stats.tokens) == tokens
    keys_per_token: dict[str, set[str]] = {}
    for message in stats.bodies:
        keys_per_token.setdefault(message["token"], set()).add(message["data"]["message_id"])
    assert all(len(keys) == 1 for keys in keys_per_token.values())
    assert len(stats.keys) == members
    assert stats.accepted == members + stats.duplicates()
