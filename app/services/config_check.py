"""`handbook config check`: is this environment ready to serve? Each finding says what is wrong,
why it matters and what to set.

Errors stop a deployment (the API would refuse to start, or would start and fail its members);
warnings are choices an operator should make knowingly. Checks reach what the settings name:
the database (and its migration state), Redis, the storage, the SMS gateway's address, the
Firebase credentials and the GeoIP database. Nothing secret is printed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import make_url, text

from app.core.config import Env, Settings


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    subject: str
    message: str


async def check(settings: Settings, *, timeout_s: float = 5.0) -> list[Finding]:
    findings = [Finding(Level.ERROR, "settings", problem) for problem in settings.problems()]
    findings += _choices(settings)
    for probe in (_database, _redis, _storage, _sms, _fcm, _geoip):
        try:
            findings += await asyncio.wait_for(probe(settings), timeout_s)
        except TimeoutError:
            findings.append(
                Finding(Level.ERROR, probe.__name__.strip("_"), f"no answer in {timeout_s:g} s")
            )
    return findings


def _choices(settings: Settings) -> list[Finding]:
    prod = settings.env is Env.PROD
    out: list[Finding] = []
    if settings.env is not Env.PROD:
        out.append(
            Finding(
                Level.WARNING,
                "ENV",
                f"ENV={settings.env.value}: development mode (OTP codes in the log, generated "
                "secret, /metrics open); a real deployment runs ENV=prod",
            )
        )
    if prod and settings.is_sqlite:
        out.append(
            Finding(
                Level.WARNING,
                "DATABASE_URL",
                "the embedded SQLite database serves one process on one machine; a province "
                "runs PostgreSQL (DATABASE_URL=postgresql://…)",
            )
        )
    if prod and not settings.redis_url:
        out.append(
            Finding(
                Level.WARNING,
                "REDIS_URL",
                "unset: rate limits are kept per process, so with several API processes an SMS "
                "pumper gets each process's allowance; set REDIS_URL when running more than one",
            )
        )
    if prod and not settings.ops.metrics_token.get_secret_value():
        out.append(
            Finding(
                Level.WARNING,
                "OPS__METRICS_TOKEN",
                "unset: /metrics is not served on the API port, so Prometheus cannot scrape the "
                "API (the worker's own /metrics listens on WORKER__METRICS_HOST)",
            )
        )
    if prod and settings.docs_enabled:
        out.append(
            Finding(
                Level.WARNING,
                "API__DOCS",
                "the interactive docs and /openapi.json are public in production; the admin "
                "app's client is generated from the committed document, not from this endpoint",
            )
        )
    if settings.worker.metrics_port and settings.worker.metrics_host not in {
        "127.0.0.1",
        "::1",
        "localhost",
    }:
        out.append(
            Finding(
                Level.WARNING,
                "WORKER__METRICS_HOST",
                f"{settings.worker.metrics_host}: the worker's /metrics has no token; expose it "
                "on a private network only",
            )
        )
    if "*" in settings.api.cors_origins:
        out.append(
            Finding(
                Level.WARNING,
                "API__CORS_ORIGINS",
                "`*` lets any web page call the API from a member's browser; list the admin "
                "app's origin instead",
            )
        )
    if prod and settings.sms.gateway == "http" and not settings.sms.daily_budget:
        out.append(
            Finding(
                Level.WARNING,
                "SMS__DAILY_BUDGET",
                "0 (no limit): nothing caps what a day of SMS can cost; set the daily budget",
            )
        )
    if settings.worker.embedded and prod:
        out.append(
            Finding(
                Level.WARNING,
                "WORKER__EMBEDDED",
                "each API process also runs background jobs; run `handbook worker` separately "
                "so jobs do not take CPU from requests",
            )
        )
    return out


async def _database(settings: Settings) -> list[Finding]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from app.core.db import create_engine
    from app.core.migrate import alembic_config

    if settings.is_sqlite:
        database = make_url(settings.database_url).database or ""
        if (
            database
            and database != ":memory:"
            and not await asyncio.to_thread(Path(database).exists)
        ):
            return [
                Finding(
                    Level.ERROR,
                    "DATABASE_URL",
                    f"{database} does not exist: run `handbook db upgrade` (or `handbook init`)",
                )
            ]
    engine = create_engine(settings, null_pool=True)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    except Exception as exc:  # any driver error means the same thing to the operator
        return [
            Finding(
                Level.ERROR,
                "DATABASE_URL",
                f"cannot connect ({type(exc).__name__}): check the address, the user and that "
                "the database exists",
            )
        ]
    finally:
        await engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    where = _redacted(settings.database_url)
    if set(current) == heads:
        return [Finding(Level.OK, "DATABASE_URL", f"{where}: reachable, migrations at head")]
    state = ", ".join(current) or "empty"
    return [
        Finding(
            Level.ERROR,
            "DATABASE_URL",
            f"{where}: reachable but at revision {state}, the code needs {', '.join(heads)}: "
            "run `handbook db upgrade`",
        )
    ]


async def _redis(settings: Settings) -> list[Finding]:
    if not settings.redis_url:
        return []
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return [
            Finding(
                Level.ERROR,
                "REDIS_URL",
                f"cannot reach Redis ({type(exc).__name__}): rate limits and the token cache "
                "need it once it is set",
            )
        ]
    finally:
        await client.aclose()
    return [Finding(Level.OK, "REDIS_URL", f"{_redacted(settings.redis_url)}: reachable")]


async def _storage(settings: Settings) -> list[Finding]:
    from app.integrations.storage import ObjectNotFound, build_storage

    if settings.storage.backend == "s3" and not settings.storage.s3_bucket:
        return []  # already an error of the settings
    storage = build_storage(settings.with_dev_secret())
    try:
        await storage.stat("config-check/absent")
    except ObjectNotFound:
        pass
    except Exception as exc:
        return [
            Finding(
                Level.ERROR,
                "STORAGE__*",
                f"the {settings.storage.backend} storage cannot be read ({type(exc).__name__}): "
                "check the bucket, the credentials and the endpoint",
            )
        ]
    finally:
        await storage.aclose()
    if settings.storage.backend == "local":
        return [await asyncio.to_thread(_local_dir_writable, settings.storage_dir)]
    return [Finding(Level.OK, "STORAGE__S3_BUCKET", f"{settings.storage.s3_bucket}: reachable")]


def _local_dir_writable(directory: Path) -> Finding:
    probe = directory / ".config-check"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Finding(
            Level.ERROR,
            "STORAGE__LOCAL_DIR",
            f"{directory} is not writable ({exc.strerror}): uploads would fail",
        )
    return Finding(Level.OK, "STORAGE__LOCAL_DIR", f"{directory}: writable")


async def _sms(settings: Settings) -> list[Finding]:
    if settings.sms.gateway != "http" or not settings.sms.url:
        return []
    out = []
    if not settings.sms.api_key.get_secret_value():
        out.append(
            Finding(Level.WARNING, "SMS__API_KEY", "unset: most gateways refuse unsigned sends")
        )
    parts = urlsplit(settings.sms.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.open_connection(parts.hostname, port)
        writer.close()
        await writer.wait_closed()
    except OSError as exc:
        out.append(
            Finding(
                Level.ERROR,
                "SMS__URL",
                f"{parts.hostname}:{port} cannot be reached ({exc.strerror or exc}): members "
                "could not get login codes",
            )
        )
    else:
        out.append(Finding(Level.OK, "SMS__URL", f"{parts.hostname}:{port}: reachable"))
    return out


async def _fcm(settings: Settings) -> list[Finding]:
    from app.integrations.fcm import ConfigError as FcmConfigError
    from app.integrations.fcm import load_service_account

    try:
        info = load_service_account(settings.fcm)
    except (OSError, json.JSONDecodeError, FcmConfigError) as exc:
        return [
            Finding(
                Level.ERROR,
                "FCM__CREDENTIALS_*",
                f"the Firebase service account cannot be read ({type(exc).__name__}): "
                "push notifications would not be sent",
            )
        ]
    if info is None:
        level = Level.WARNING if settings.env is Env.PROD else Level.OK
        return [
            Finding(
                level,
                "FCM__CREDENTIALS_FILE",
                "unset: no push notifications, members see notices in the app's inbox only",
            )
        ]
    missing = [key for key in ("client_email", "private_key", "token_uri") if not info.get(key)]
    if missing:
        return [
            Finding(
                Level.ERROR,
                "FCM__CREDENTIALS_*",
                f"the service account key lacks {', '.join(missing)}",
            )
        ]
    project = settings.fcm.project_id or info.get("project_id", "")
    return [Finding(Level.OK, "FCM__CREDENTIALS_*", f"service account for project {project}")]


async def _geoip(settings: Settings) -> list[Finding]:
    from app.integrations.geoip import build_geoip

    path = settings.geoip.database
    if path is None:
        return [Finding(Level.OK, "GEOIP__DATABASE", "unset: logins are listed without places")]
    if not path.is_file():
        return []  # a settings problem already
    try:
        build_geoip(settings.geoip).close()
    except (OSError, ValueError, RuntimeError) as exc:  # maxminddb's InvalidDatabaseError
        return [
            Finding(
                Level.ERROR,
                "GEOIP__DATABASE",
                f"{path} is not a MaxMind-format database ({type(exc).__name__}): the API "
                "would not start",
            )
        ]
    return [Finding(Level.OK, "GEOIP__DATABASE", f"{path}: readable")]


def _redacted(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
