"""Backup and restore, verified: a seeded database with an uploaded file is backed up, restored
into an empty database and storage, and the API serves the same data from the copy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core import migrate
from app.core.db import Database
from app.core.security import PasswordHasher
from app.main import create_app
from app.resources import Resources
from app.services import backup
from app.services.seed import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo
from tests import dbs
from tests.conftest import FreshDatabase, make_settings

FILE_KEY = "documents/2026/12/nghi-quyet.pdf"
FILE_BYTES = b"%PDF-1.7\n" + bytes(range(256)) * 64


async def _served(settings: Any) -> dict[str, Any]:
    """What a member sees through the API: their home and their branch's members page."""
    resources = Resources.build(settings, db=Database.open(settings))
    app = create_app(settings, resources=resources)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            login = await client.post(
                "/api/v1/auth/password/login",
                json={"phone": DEMO_ACCOUNTS[0].phone, "password": DEMO_PASSWORD},
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            home = (await client.get("/api/v1/me/home", headers=headers)).json()
            branch = home["branch"]["id"]
            members = await client.get(f"/api/v1/orgs/{branch}/members", headers=headers)
            assert members.status_code == 200, members.text
            stored = await resources.storage.open(FILE_KEY)
            return {
                "home": {k: v for k, v in home.items() if k != "unread_notifications"},
                "members": members.json(),
                "file": await stored.read(),
            }
    finally:
        await resources.aclose()


async def test_backup_restores_into_an_empty_database_and_serves_the_same_data(
    fresh_db: FreshDatabase, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = make_settings(fresh_db.url).model_copy(update={"data_dir": tmp_path / "source"})
    await asyncio.to_thread(migrate.upgrade, fresh_db.url)
    hashed = await PasswordHasher(source.auth).hash(DEMO_PASSWORD)
    await seed_demo(fresh_db.engine, password_hash=hashed)
    storage = Resources.build(source, db=Database.open(source))
    try:
        await storage.storage.put_file(
            FILE_KEY, _write(tmp_path / "upload.pdf"), content_type="application/pdf"
        )
    finally:
        await storage.aclose()
    before = await _served(source)

    saved = await asyncio.to_thread(backup.create, source, tmp_path / "backup")
    assert saved.files >= 1
    assert saved.database_bytes > 0

    async with dbs.fresh_database(fresh_db.kind, "restored", tmp_path_factory) as (url, _):
        target = make_settings(url).model_copy(update={"data_dir": tmp_path / "target"})
        await asyncio.to_thread(backup.restore, target, tmp_path / "backup")
        after = await _served(target)
        # Restoring twice into the same database is refused, not merged.
        with pytest.raises(backup.BackupError):
            await asyncio.to_thread(backup.restore, target, tmp_path / "backup")
    assert after == before
    assert after["file"] == FILE_BYTES


def _write(path: Path) -> Path:
    path.write_bytes(FILE_BYTES)
    return path


async def test_a_damaged_backup_is_refused(fresh_db: FreshDatabase, tmp_path: Path) -> None:
    settings = make_settings(fresh_db.url).model_copy(update={"data_dir": tmp_path})
    await asyncio.to_thread(migrate.upgrade, fresh_db.url)
    await asyncio.to_thread(backup.create, settings, tmp_path / "backup")
    dump = next(p for p in (tmp_path / "backup").iterdir() if p.name.startswith("database"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(backup.BackupError, match="checksum"):
        await asyncio.to_thread(backup.restore, settings, tmp_path / "backup")
