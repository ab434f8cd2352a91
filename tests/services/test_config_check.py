"""`handbook config check`: each probe against the real thing it checks (a database of each
kind, Redis, a listening socket for the SMS gateway), and the command's exit code and output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.core import migrate
from app.core.config import Env, FcmSettings, GeoIPSettings, Settings, SmsSettings
from app.services.config_check import Finding, Level, check
from tests.conftest import FreshDatabase, make_settings
from tests.geoip_files import city, write_city_db
from tests.test_cli import run_cli

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def _by_subject(findings: list[Finding], subject: str) -> list[Finding]:
    return [finding for finding in findings if finding.subject == subject]


def _settings(fresh_db: FreshDatabase, tmp_path: Path, **update: object) -> Settings:
    return make_settings(fresh_db.url).model_copy(update={"data_dir": tmp_path, **update})


async def test_a_migrated_database_passes_and_an_empty_one_says_to_upgrade(
    fresh_db: FreshDatabase, tmp_path: Path
) -> None:
    settings = _settings(fresh_db, tmp_path)
    before = _by_subject(await check(settings, timeout_s=60), "DATABASE_URL")
    assert [f.level for f in before] == [Level.ERROR]
    assert "handbook db upgrade" in before[0].message

    await asyncio.to_thread(migrate.upgrade, fresh_db.url)
    findings = await check(settings, timeout_s=60)
    assert [f.level for f in _by_subject(findings, "DATABASE_URL")] == [Level.OK]
    assert not [f for f in findings if f.level is Level.ERROR], findings


async def test_unreachable_database_and_redis_are_errors(tmp_path: Path) -> None:
    settings = make_settings("postgresql+asyncpg://nobody@127.0.0.1:1/none").model_copy(
        update={"data_dir": tmp_path, "redis_url": CLOSED_PORT_URL}
    )
    findings = await check(settings, timeout_s=60)
    assert [f.level for f in _by_subject(findings, "DATABASE_URL")] == [Level.ERROR]
    assert [f.level for f in _by_subject(findings, "REDIS_URL")] == [Level.ERROR]


async def test_reachable_redis_is_ok(tmp_path: Path) -> None:
    settings = make_settings().model_copy(
        update={"data_dir": tmp_path, "redis_url": "redis://127.0.0.1:6379/0"}
    )
    findings = _by_subject(await check(settings, timeout_s=60), "REDIS_URL")
    assert [f.level for f in findings] == [Level.OK], findings


async def test_sms_gateway_reachability(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda _reader, writer: writer.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for url, expected in (
            (f"http://127.0.0.1:{port}/send", Level.OK),
            ("http://127.0.0.1:1/send", Level.ERROR),
        ):
            sms = SmsSettings(gateway="http", url=url, api_key=SecretStr("k" * 32))
            settings = make_settings().model_copy(update={"data_dir": tmp_path, "sms": sms})
            findings = _by_subject(await check(settings, timeout_s=60), "SMS__URL")
            assert [f.level for f in findings] == [expected], findings
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ("not json", Level.ERROR),
        (json.dumps({"type": "authorized_user"}), Level.ERROR),
        (json.dumps({"type": "service_account", "project_id": "p"}), Level.ERROR),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "p",
                    "client_email": "a@p.iam.gserviceaccount.com",
                    "private_key": "-----BEGIN PRIVATE KEY-----",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            ),
            Level.OK,
        ),
    ],
)
async def test_firebase_credentials_are_read(
    tmp_path: Path, credentials: str, expected: Level
) -> None:
    fcm = FcmSettings(credentials_json=SecretStr(credentials))
    settings = make_settings().model_copy(update={"data_dir": tmp_path, "fcm": fcm})
    findings = _by_subject(await check(settings, timeout_s=60), "FCM__CREDENTIALS_*")
    assert [f.level for f in findings] == [expected], findings


async def test_the_geoip_database_is_opened(tmp_path: Path) -> None:
    good = write_city_db(tmp_path / "city.mmdb", {"14.160.0.0/16": city(None, None, "Việt Nam")})
    bad = tmp_path / "not-a-database.mmdb"
    bad.write_bytes(b"not a MaxMind database" * 10)
    for path, expected in ((None, Level.OK), (good, Level.OK), (bad, Level.ERROR)):
        settings = make_settings().model_copy(
            update={"data_dir": tmp_path, "geoip": GeoIPSettings(database=path)}
        )
        findings = _by_subject(await check(settings, timeout_s=60), "GEOIP__DATABASE")
        assert [f.level for f in findings] == [expected], (path, findings)


async def test_production_choices_are_warned_about(tmp_path: Path) -> None:
    settings = make_settings().model_copy(
        update={"data_dir": tmp_path, "env": Env.PROD, "redis_url": None}
    )
    findings = await check(settings, timeout_s=60)
    warned = {f.subject for f in findings if f.level is Level.WARNING}
    assert {"DATABASE_URL", "REDIS_URL", "FCM__CREDENTIALS_FILE"} <= warned
    errors = [f.message for f in findings if f.level is Level.ERROR]
    assert any("SMS__GATEWAY=console" in message for message in errors)


async def test_command_exit_code_and_no_secret_in_its_output(
    fresh_db: FreshDatabase, tmp_path: Path
) -> None:
    url = fresh_db.plain_url
    if fresh_db.kind == "postgresql":  # trust auth: the password is accepted and ignored
        url = url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t-pw@")
    empty = await run_cli("config", "check", "--timeout", "60", cwd=tmp_path, DATABASE_URL=url)
    assert empty.returncode == 1, empty.output
    assert "handbook db upgrade" in empty.output

    upgrade = await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)
    assert upgrade.returncode == 0, upgrade.output
    ready = await run_cli("config", "check", "--timeout", "60", cwd=tmp_path, DATABASE_URL=url)
    assert ready.returncode == 0, ready.output
    assert "0 error(s)" in ready.output
    assert "s3cr3t-pw" not in empty.output + ready.output
