"""`handbook bench-push`: a province-wide notice to N members through the worker, to a local FCM
stub, with 1 and 2 worker processes, for each sender (the lean one and firebase-admin).

What is measured per run (DESIGN.md §5, push bar: ≤ 1 ms of the worker's own CPU per message):
- msgs/s: devices reached ÷ seconds from the notice's commit to its last delivery recorded;
- the worker processes' own CPU (utime + stime from /proc) per message: fan-out, inbox rows,
  delivery rows, the sends and their outcomes; the stub and PostgreSQL are separate processes,
  not counted;
- peak RSS of the worker processes (VmHWM);
- lost (devices the stub never heard from) and duplicated (a message accepted twice for one key).

Also, in this process, the sender alone (no database): CPU per message of `send()` for each
sender, which isolates what firebase-admin itself costs per message.

Results go to `docs/benchmarks/push.json` (this part's own file, merged by whoever assembles
latest.json) and to the console. No rate cap runs during the benchmark (`FCM__RATE_PER_S=0`).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/handbook_bench_push"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "benchmarks" / "push.json"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BAR_CPU_MS_PER_MESSAGE = 1.0
HANOI_MEMBERS = 476_000
STALL_S = 120.0


@dataclass
class PushRun:
    sender: str
    workers: int
    members: int
    devices: int
    seconds: float
    msgs_per_s: float
    worker_cpu_s: float
    cpu_ms_per_msg: float
    peak_rss_mb: float
    accepted: int
    unique: int
    lost: int
    duplicated: int
    passed: bool


# --- processes ----------------------------------------------------------------------------------


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _handbook() -> list[str]:
    script = Path(sys.executable).parent / "handbook"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def _clean_env() -> dict[str, str]:
    groups = (
        "AUTH__",
        "SMS__",
        "DB__",
        "API__",
        "LOG__",
        "RULES__",
        "WORKER__",
        "FCM__",
        "NOTIFY__",
    )
    flat = {"ENV", "DATABASE_URL", "REDIS_URL", "DATA_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    return {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in flat and not key.upper().startswith(groups)
    }


def _start_stub() -> tuple[subprocess.Popen[bytes], str]:
    stub = subprocess.Popen(
        [sys.executable, "-m", "app.bench.fcm_stub", "--port", "0"],
        stdout=subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    if stub.stdout is None:  # pragma: no cover - stdout=PIPE
        raise RuntimeError("no stub output")
    port = int(stub.stdout.readline())
    return stub, f"http://127.0.0.1:{port}"


def _stub_stats(base: str) -> dict[str, Any]:
    import httpx

    stats: dict[str, Any] = httpx.get(base + "/stats", timeout=10).json()
    return stats


# --- database -----------------------------------------------------------------------------------


async def _ensure_database(url: str, *, reset: bool = False) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from app.core.config import async_database_url

    target = make_url(async_database_url(url))
    name = target.database or ""
    if name in {"postgres", "template0", "template1"}:
        raise typer.BadParameter(f"refusing to use the {name!r} database")
    admin = create_async_engine(
        target.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if exists and reset:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = None
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def _prepare(url: str, members: int, console: Console) -> tuple[int, int]:
    """Seed a province of `members` (once) with one device per member; (root org id, devices)."""
    from sqlalchemy import func, select, text

    from app.core.config import Env, Settings
    from app.core.db import create_engine
    from app.models import Member, Org
    from app.services.seed import seed_generated

    engine = create_engine(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with engine.connect() as conn:
            have = int(await conn.scalar(select(func.count()).select_from(Member)) or 0)
        if have == 0:
            started = time.monotonic()
            await seed_generated(engine, members=members)
            console.print(f"seeded {members:,} members in {time.monotonic() - started:.0f} s")
        elif have != members:
            raise typer.BadParameter(
                f"the bench database holds {have:,} members, not {members:,}: run with "
                f"--reset to rebuild it, or pass --members {have}"
            )
        async with engine.begin() as conn:
            # One device per member (an Android token of realistic length), made in SQL.
            await conn.execute(
                text(
                    "INSERT INTO device (member_id, token, token_hash, platform, created_at, "
                    "last_seen_at) SELECT m.id, t.token, encode(sha256(t.token::bytea), 'hex'), "
                    "'android', now(), now() FROM member m CROSS JOIN LATERAL (SELECT "
                    "'bench' || m.id || :suffix AS token) t "
                    "WHERE NOT EXISTS (SELECT 1 FROM device d WHERE d.member_id = m.id)"
                ),
                {"suffix": ":APA91b" + "x" * 140},
            )
            devices = int(await conn.scalar(text("SELECT count(*) FROM device")) or 0)
            root = int(
                await conn.scalar(
                    select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1)
                )
                or 0
            )
        return root, devices
    finally:
        await engine.dispose()


async def _reset(url: str) -> None:
    from sqlalchemy import text

    from app.core.config import Env, Settings
    from app.core.db import create_engine

    engine = create_engine(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with engine.begin() as conn:
            for table in ("delivery", "notification", "job", "notice", "worker_heartbeat"):
                await conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        await engine.dispose()


async def _notify(url: str, root_id: int) -> int:
    from app.core.config import Env, Settings
    from app.core.db import Database
    from app.models import NoticeKind
    from app.services import notices

    db = Database.open(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with db.write.begin() as session:
            notice = await notices.notify(
                session,
                kind=NoticeKind.DOCUMENT,
                title="Văn bản mới của Tỉnh ủy",
                body="Nghị quyết số 57-NQ/TW đã được ban hành. Mở ứng dụng để xem.",
                data={"document_id": "57"},
                audience=notices.Audience(org_id=root_id),
            )
            return notice.id
    finally:
        await db.close()


async def _progress(url: str, notice_id: int) -> tuple[int, int, int]:
    """(deliveries recorded sent or pruned, pending, unfinished notice jobs)."""
    from sqlalchemy import text

    from app.core.config import Env, Settings
    from app.core.db import create_engine

    engine = create_engine(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM delivery WHERE notice_id = :n AND status "
                        "<> 'pending'), (SELECT count(*) FROM delivery WHERE notice_id = :n AND "
                        "status = 'pending'), (SELECT count(*) FROM job WHERE kind LIKE "
                        "'notice.%' AND status IN ('queued', 'running', 'failed'))"
                    ),
                    {"n": notice_id},
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await engine.dispose()


async def _heartbeats(url: str) -> int:
    from sqlalchemy import text

    from app.core.config import Env, Settings
    from app.core.db import create_engine

    engine = create_engine(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    text("SELECT count(*) FROM worker_heartbeat WHERE stopped_at IS NULL")
                )
                or 0
            )
    finally:
        await engine.dispose()


# --- one run ------------------------------------------------------------------------------------


def run_once(
    url: str,
    *,
    root_id: int,
    devices: int,
    members: int,
    sender: str,
    workers: int,
    concurrency: int,
    console: Console,
) -> PushRun:
    from app.bench.fcm_stub import fake_service_account

    asyncio.run(_reset(url))
    stub, base = _start_stub()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="handbook-push-") as tmp:
        env = _clean_env()
        env.update(
            ENV="prod",
            DATABASE_URL=url,
            DATA_DIR=tmp,
            AUTH__SECRET_KEY=secrets.token_urlsafe(48),
            SMS__GATEWAY="http",
            SMS__URL="http://127.0.0.1:9/unused",
            LOG__LEVEL="WARNING",
            WORKER__CONCURRENCY=str(concurrency),
            WORKER__POLL_INTERVAL_S="0.2",
            FCM__CREDENTIALS_JSON=json.dumps(fake_service_account(base + "/token")),
            FCM__SEND_URL=base + "/v1/projects/{project_id}/messages:send",
            FCM__SENDER=sender,
            FCM__RATE_PER_S="0",
            FCM__TIMEOUT_S="60",
        )
        try:
            for n in range(workers):
                log = Path(tmp) / f"worker-{n}.log"
                procs.append(
                    subprocess.Popen(
                        [*_handbook(), "worker"],
                        env=env,
                        cwd=tmp,
                        stdout=log.open("wb"),
                        stderr=subprocess.STDOUT,
                    )
                )
            give_up = time.monotonic() + 120
            while asyncio.run(_heartbeats(url)) < workers:
                if time.monotonic() > give_up or any(p.poll() is not None for p in procs):
                    raise RuntimeError("workers did not start: " + _tail(Path(tmp)))
                time.sleep(0.2)
            time.sleep(1.0)  # let them settle (first claims, the housekeeping job)
            before = {p.pid: _ticks(p.pid) for p in procs}
            started = time.monotonic()
            notice_id = asyncio.run(_notify(url, root_id))
            last_done, last_change = -1, time.monotonic()
            while True:
                done, pending, busy = asyncio.run(_progress(url, notice_id))
                now = time.monotonic()
                if done != last_done:
                    last_done, last_change = done, now
                if done >= devices and not pending and not busy:
                    break
                if now - last_change > STALL_S:
                    raise RuntimeError(
                        f"no progress for {STALL_S:.0f} s at {done:,}/{devices:,}: "
                        + _tail(Path(tmp))
                    )
                time.sleep(0.25)
            seconds = time.monotonic() - started
            cpu_s = sum(_ticks(p.pid) - before[p.pid] for p in procs) / CLOCK_TICKS_PER_S
            rss = max(_peak_rss_mb(p.pid) for p in procs)
            stats = _stub_stats(base)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            stub.terminate()
            stub.wait(10)
    accepted, unique, duplicated = stats["accepted"], stats["unique"], stats["duplicates"]
    per_msg = 1000 * cpu_s / max(1, unique)
    result = PushRun(
        sender=sender,
        workers=workers,
        members=members,
        devices=devices,
        seconds=round(seconds, 2),
        msgs_per_s=round(unique / seconds, 1),
        worker_cpu_s=round(cpu_s, 2),
        cpu_ms_per_msg=round(per_msg, 3),
        peak_rss_mb=round(rss, 1),
        accepted=accepted,
        unique=unique,
        lost=devices - unique,
        duplicated=duplicated,
        passed=per_msg <= BAR_CPU_MS_PER_MESSAGE and unique == devices and duplicated == 0,
    )
    console.print(
        f"  {sender} × {workers} worker(s): {unique:,} messages in {seconds:.1f} s = "
        f"{result.msgs_per_s:,.0f} msg/s, worker CPU {per_msg:.3f} ms/msg, peak RSS "
        f"{rss:.0f} MB, lost {result.lost}, duplicated {duplicated}"
    )
    return result


def _tail(folder: Path) -> str:
    texts = [p.read_text(errors="replace")[-1500:] for p in sorted(folder.glob("*.log"))]
    return "\n".join(texts)


# --- the sender alone ---------------------------------------------------------------------------


async def _sender_alone(sender: str, messages: int) -> float:
    """CPU ms per message of `send()` in this process (the stub runs in its own)."""
    from pydantic import SecretStr

    from app.bench.fcm_stub import fake_service_account
    from app.core.config import FcmSettings
    from app.integrations.fcm import PushMessage, build_push_gateway
    from app.models.base import utcnow

    stub, base = _start_stub()
    try:
        settings = FcmSettings(
            credentials_json=SecretStr(json.dumps(fake_service_account(base + "/token"))),
            send_url=base + "/v1/projects/{project_id}/messages:send",
            sender=sender,  # type: ignore[arg-type]
            rate_per_s=0,
            timeout_s=60,
        )
        gateway = build_push_gateway(settings)
        batch = [
            PushMessage(
                token=f"bench{i}:APA91b" + "x" * 140,
                title="Văn bản mới của Tỉnh ủy",
                body="Nghị quyết số 57-NQ/TW đã được ban hành. Mở ứng dụng để xem.",
                data={"document_id": "57", "notice_id": "1", "kind": "document"},
                collapse_key="notice-1",
                message_id=str(i),
            )
            for i in range(500)
        ]
        await gateway.send(batch[:20], now=utcnow())  # connections and the OAuth token
        started = time.process_time()
        for _ in range(max(1, messages // 500)):
            await gateway.send(batch, now=utcnow())
        spent = time.process_time() - started
        await gateway.aclose()
        return 1000 * spent / (max(1, messages // 500) * 500)
    finally:
        stub.terminate()
        stub.wait(10)


# --- the command --------------------------------------------------------------------------------


def bench_push(
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL database of its own (created if missing).")
    ] = DEFAULT_DATABASE_URL,
    members: Annotated[
        int, typer.Option(help="Members of the province (each with one device).", min=100)
    ] = 100_000,
    all_members: Annotated[
        bool, typer.Option("--all", help=f"A Hà Nội-sized province ({HANOI_MEMBERS:,}).")
    ] = False,
    sdk_members: Annotated[
        int,
        typer.Option(
            help="Cap on the firebase-admin runs' audience (it is ~50x slower; 0 = no cap).",
            min=0,
        ),
    ] = 10_000,
    senders: Annotated[
        str, typer.Option(help="Comma-separated: lean, firebase-admin.")
    ] = "lean,firebase-admin",
    concurrency: Annotated[int, typer.Option(help="Jobs at once per worker.", min=1)] = 4,
    sdk_concurrency: Annotated[
        int,
        typer.Option(
            help="Jobs at once per worker with firebase-admin (each job is a 500-message "
            "send_each_async; several at once overload its httpx pool).",
            min=1,
        ),
    ] = 1,
    output: Annotated[Path, typer.Option(help="Where the JSON goes.")] = DEFAULT_OUTPUT,
    reset: Annotated[bool, typer.Option(help="Drop and rebuild the bench databases.")] = False,
) -> None:
    """Push benchmark: a province-wide notice through 1 and 2 worker processes to a local FCM
    stub; writes docs/benchmarks/push.json."""
    console = Console(stderr=True, soft_wrap=True)
    if all_members:
        members = HANOI_MEMBERS
    wanted = [s.strip() for s in senders.split(",") if s.strip()]
    from app.core import migrate

    runs: list[PushRun] = []
    alone: dict[str, float] = {}
    for sender in wanted:
        alone[sender] = round(asyncio.run(_sender_alone(sender, 5000)), 4)
        console.print(f"{sender} send() alone: {alone[sender]:.3f} ms CPU per message")
    for sender in wanted:
        size = members if sender == "lean" or not sdk_members else min(members, sdk_members)
        url = database_url if size == members else f"{database_url}_{size}"
        asyncio.run(_ensure_database(url, reset=reset))
        migrate.upgrade(url)
        root_id, devices = asyncio.run(_prepare(url, size, console))
        console.rule(f"{sender}: {size:,} members, {devices:,} devices")
        for workers in (1, 2):
            runs.append(
                run_once(
                    url,
                    root_id=root_id,
                    devices=devices,
                    members=size,
                    sender=sender,
                    workers=workers,
                    concurrency=concurrency if sender == "lean" else sdk_concurrency,
                    console=console,
                )
            )
    report = {
        "part": "push",
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": "handbook bench-push " + " ".join(sys.argv[2:]),
        "bar": {"worker_cpu_ms_per_message_max": BAR_CPU_MS_PER_MESSAGE},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
        "settings": {
            "FCM__RATE_PER_S": 0,
            "WORKER__CONCURRENCY": {"lean": concurrency, "firebase-admin": sdk_concurrency},
            "NOTIFY__CHUNK_MEMBERS": 500,
            "stub": "app.bench.fcm_stub (HTTP/1.1)",
        },
        "sender_alone_cpu_ms_per_message": alone,
        "runs": [asdict(run) for run in runs],
        "pass": {sender: all(r.passed for r in runs if r.sender == sender) for sender in wanted},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = Table(title="Push: a province-wide notice")
    for column in (
        "sender",
        "workers",
        "messages",
        "s",
        "msg/s",
        "CPU ms/msg",
        "peak RSS MB",
        "lost",
        "dup",
        "bar",
    ):
        table.add_column(column)
    for r in runs:
        table.add_row(
            r.sender,
            str(r.workers),
            f"{r.unique:,}",
            f"{r.seconds:.1f}",
            f"{r.msgs_per_s:,.0f}",
            f"{r.cpu_ms_per_msg:.3f}",
            f"{r.peak_rss_mb:.0f}",
            str(r.lost),
            str(r.duplicated),
            "PASS" if r.passed else "FAIL",
        )
    Console().print(table)
    console.print(f"wrote {output}")
