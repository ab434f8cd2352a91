"""Workers as real processes on a database of their own (committed data): two `handbook worker`
processes share a province-wide notice, one is killed mid-batch and another started; nothing is
lost and nothing is sent twice beyond its idempotency key. Also: SIGTERM hands running jobs back,
and (PostgreSQL) concurrent claims skip each other's rows instead of waiting."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.bench.fcm_stub import FcmStub
from app.core.clock import SystemClock
from app.models import Delivery, Job, JobStatus, NoticeKind, OrgKind, WorkerHeartbeat
from app.resources import Resources
from app.services import jobs, notices
from app.services.notices import Audience
from app.worker import queue
from app.worker.registry import JobContext, Registry
from app.worker.runner import Worker
from tests import dbs, processes
from tests.conftest import database_params, make_settings
from tests.factories import make_member, make_org
from tests.worker.conftest import add_device

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 80
DEADLINE_S = processes.DEADLINE_S


@dataclass
class Live:
    url: str
    engine: AsyncEngine
    kind: str


@pytest.fixture(params=database_params())
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> AsyncIterator[Live]:
    async with dbs.fresh_database(request.param, f"proc_{worker_id}", tmp_path_factory) as (
        url,
        engine,
    ):
        await dbs.migrate(engine)
        yield Live(url=url, engine=engine, kind=request.param)


async def test_two_workers_one_killed_and_one_restarted_lose_and_double_nothing(
    live: Live, fcm_stub: FcmStub, service_account: dict[str, Any], tmp_path: Path
) -> None:
    async with AsyncSession(live.engine, expire_on_commit=False) as session:
        root = await make_org(session, kind=OrgKind.PROVINCE_COMMITTEE, name="Đảng bộ tỉnh")
        branches = [await make_org(session, root, name=f"Chi bộ {n}") for n in range(4)]
        members = [
            await make_member(session, branches[n % 4], full_name=f"Đảng Viên {n:03d}")
            for n in range(MEMBERS)
        ]
        tokens = {(await add_device(session, m.id)).token for m in members}
        notice = await notices.notify(
            session,
            kind=NoticeKind.GENERAL,
            title="Thông báo toàn tỉnh",
            body="Nghị quyết mới đã được ban hành.",
            audience=Audience(org_id=root.id),
        )
        await session.commit()
        notice_id = notice.id
    fcm_stub.reset()
    fcm_stub.delay_s = 0.2  # a batch is in flight long enough to be killed in the middle
    env = processes.worker_env(live.url, fcm_stub, service_account, tmp_path)
    first = processes.start_worker(env, tmp_path / "worker-1.log")
    second = processes.start_worker(env, tmp_path / "worker-2.log")
    third: subprocess.Popen[bytes] | None = None
    try:
        give_up = time.monotonic() + DEADLINE_S
        victim = await processes.kill_a_delivering_worker(
            live.engine, fcm_stub, (first, second), tmp_path, give_up
        )
        survivor = second if victim is first else first
        third = processes.start_worker(env, tmp_path / "worker-3.log")
        await processes.wait_delivered(live.engine, notice_id, give_up)
        async with AsyncSession(live.engine) as session:
            # The restarted worker is up (signals handled) before it is asked to stop; on a
            # loaded machine its start can take a while, so it gets a deadline of its own.
            started_by = time.monotonic() + DEADLINE_S
            while True:
                pids = set(await session.scalars(select(WorkerHeartbeat.pid)))
                if third.pid in pids:
                    break
                assert time.monotonic() < started_by, "the restarted worker never came up:\n" + (
                    processes.logs(tmp_path)
                )
                await session.rollback()
                await asyncio.sleep(0.1)
        fcm_stub.delay_s = 0.0
        for process in (survivor, third):
            process.send_signal(signal.SIGTERM)
        for process in (survivor, third):
            try:
                code = process.wait(60)  # the worker's own bound is grace + 20 s
            except subprocess.TimeoutExpired:
                stopped = "a worker did not stop:\n"
                raise AssertionError(stopped + processes.logs(tmp_path)) from None
            assert code == 0, processes.logs(tmp_path)
    finally:
        fcm_stub.delay_s = 0.0
        for leftover in (first, second, third):
            if leftover is not None and leftover.poll() is None:
                leftover.kill()
                leftover.wait(10)
    await processes.assert_delivered_once(live.engine, notice_id, fcm_stub, tokens, tmp_path)
    async with AsyncSession(live.engine) as session:
        beats = list(await session.scalars(select(WorkerHeartbeat)))
        assert len(beats) == 3
        assert sum(beat.stopped_at is None for beat in beats) == 1  # only the killed one


class Blocker:
    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def __call__(self, _ctx: JobContext) -> None:
        self.started.set()
        await asyncio.Event().wait()  # never finishes by itself


async def test_sigterm_hands_a_running_job_back(live: Live) -> None:
    settings = make_settings(live.url)
    settings = settings.model_copy(
        update={
            "worker": settings.worker.model_copy(
                update={"shutdown_grace_s": 0.2, "heartbeat_interval_s": 0.2}
            )
        }
    )
    resources = Resources.build(settings)
    blocker = Blocker()
    registry = Registry()
    registry.handler("test.block")(blocker)
    try:
        async with resources.db.write.begin() as session:
            job_id = await jobs.enqueue(session, "test.block", {})
        worker = Worker(resources, clock=SystemClock(), registry=registry, worker_id="w-term")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(blocker.started.wait(), 30)
        stop.set()  # what SIGTERM does in `handbook worker`
        await asyncio.wait_for(task, 30)
        async with resources.db.write() as session:
            job = await session.get(Job, job_id)
            assert job is not None
            assert (job.status, job.attempts, job.lease_owner) == (JobStatus.QUEUED, 0, None)
            beat = await session.get(WorkerHeartbeat, "w-term")
            assert beat is not None
            assert beat.stopped_at is not None
    finally:
        await resources.aclose()


async def test_concurrent_claims_skip_locked_rows(live: Live) -> None:
    if live.kind != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite writers are serial (BEGIN IMMEDIATE)")
    from app.models.base import utcnow

    async with AsyncSession(live.engine) as session:
        for n in range(2):
            await jobs.enqueue(session, "test.job", {"n": n})
        await session.commit()
    now = utcnow()
    async with AsyncSession(live.engine) as first, AsyncSession(live.engine) as second:
        a = await queue.claim(first, "a", now=now, limit=1, lease_s=60)
        # `first` still holds its row lock: `second` skips that row instead of waiting.
        b = await asyncio.wait_for(queue.claim(second, "b", now=now, limit=5, lease_s=60), 5)
        assert len(a) == len(b) == 1
        assert a[0].id != b[0].id
        await first.commit()
        await second.commit()


class TcpProxy:
    """127.0.0.1:port → the database; `cut()` drops every connection and refuses new ones until
    `restore()` (the database "goes away" and comes back, as far as the worker can tell)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_the_worker_rides_out_the_database_going_away_mid_delivery(
    live: Live, fcm_stub: FcmStub, service_account: dict[str, Any]
) -> None:
    if live.kind != "postgresql":
        pytest.skip("a database that goes away over the network: PostgreSQL")
    from sqlalchemy.engine import make_url

    from tests.worker.conftest import fcm_settings

    url = make_url(live.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = make_settings(url.set(port=proxy.port).render_as_string(hide_password=False))
    settings = settings.model_copy(
        update={
            "worker": settings.worker.model_copy(
                update={"poll_interval_s": 0.05, "heartbeat_interval_s": 0.2, "lease_s": 3}
            ),
            "notify": settings.notify.model_copy(update={"chunk_members": 10}),
            "fcm": fcm_settings(fcm_stub, service_account),
        }
    )
    async with AsyncSession(live.engine, expire_on_commit=False) as session:
        branch = await make_org(session, name="Chi bộ Mất Kết Nối")
        members = [
            await make_member(session, branch, full_name=f"Đảng Viên {n:02d}") for n in range(30)
        ]
        tokens = {(await add_device(session, m.id)).token for m in members}
        notice = await notices.notify(
            session,
            kind=NoticeKind.GENERAL,
            title="Thông báo",
            body="Mạng chập chờn",
            audience=Audience(org_id=branch.id),
        )
        await session.commit()
        notice_id = notice.id
    fcm_stub.reset()
    fcm_stub.delay_s = 0.3
    resources = Resources.build(settings)
    worker = Worker(resources, concurrency=2)
    worker.state_write_delays = (0.2, 0.5, 1.0, 2.0, 2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        give_up = time.monotonic() + DEADLINE_S
        while not fcm_stub.stats.accepted and time.monotonic() < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the stub runs in another thread: poll it
        await proxy.cut()  # pushes are in flight: their outcomes cannot be written
        await asyncio.sleep(1.5)
        await proxy.restore()
        fcm_stub.delay_s = 0.0
        async with AsyncSession(live.engine) as session:
            while time.monotonic() < give_up:
                if not await processes.open_deliveries(session, notice_id):
                    sent = await session.scalar(
                        select(func.count()).where(
                            Delivery.notice_id == notice_id, Delivery.status == "sent"
                        )
                    )
                    if sent == len(members):
                        break
                await session.rollback()
                await asyncio.sleep(0.2)
    finally:
        fcm_stub.delay_s = 0.0
        stop.set()
        await asyncio.wait_for(task, 60)
        await resources.aclose()
        await proxy.cut()
    async with AsyncSession(live.engine) as session:
        statuses = dict(
            (
                await session.execute(
                    select(Delivery.status, func.count())
                    .where(Delivery.notice_id == notice_id)
                    .group_by(Delivery.status)
                )
            ).all()
        )
    assert statuses == {"sent": len(members)}
    assert set(fcm_stub.stats.tokens) == tokens
    keys: dict[str, set[str]] = {}
    for message in fcm_stub.stats.bodies:
        keys.setdefault(message["token"], set()).add(message["data"]["message_id"])
    assert all(len(k) == 1 for k in keys.values())


@pytest.mark.parametrize(("clean", "code"), [(True, 0), (False, 1)])
def test_a_stop_that_hangs_is_cut_short_with_every_stack_dumped(clean: bool, code: int) -> None:
    """Whatever hangs after SIGTERM (a thread that never returns keeps the interpreter alive),
    the worker is gone within its bound; the exit code says whether its jobs were handed back."""
    script = (
        "import threading, time\n"
        "from app.cli import _StopWatchdog\n"
        "def stuck_in_a_client_library():\n"
        "    time.sleep(3600)\n"
        "threading.Thread(target=stuck_in_a_client_library).start()\n"
        "watchdog = _StopWatchdog(0.3)\n"
        f"watchdog.clean = {clean}\n"
        "watchdog.start()\n"
        "watchdog.start()\n"
    )
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code
    assert "stuck_in_a_client_library" in done.stderr  # the hang is named in the dump
    assert time.monotonic() - started < 30
