"""Creating, migrating and dropping the test databases (SQLite files, PostgreSQL databases)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import Env, Settings, async_database_url
from app.core.db import create_engine
from app.core.migrate import alembic_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_DB_ENV = ("TEST_DATABASE_URL", "HANDBOOK_TEST_DATABASE_URL")
# Unique to this run of the suite (shared by its xdist workers; set in conftest), so that two
# suites against one server (a developer's and CI's) never drop each other's databases.
RUN_TAG = "local"


def postgres_admin_url() -> str | None:
    """TEST_DATABASE_URL, as an asyncpg URL; tests create their own databases next to it."""
    for name in TEST_DB_ENV:
        value = os.environ.get(name)
        if value:
            return async_database_url(value)
    return None


async def unreachable() -> str | None:
    """Why the PostgreSQL server of TEST_DATABASE_URL cannot be used, or None when it answers."""
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_async_engine(
        admin_url, poolclass=NullPool, connect_args={"timeout": 10}, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect is the answer
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()
    return None


async def migrate(engine: AsyncEngine, action: str = "upgrade", revision: str = "head") -> None:
    """Run Alembic the way `handbook db` does: env.py opens its own connection from the URL."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    await asyncio.to_thread(getattr(command, action), config, revision)


async def _admin(sql: str) -> None:
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_async_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())[:60]


@asynccontextmanager
async def fresh_database(
    kind: str, name: str, tmp_path_factory: pytest.TempPathFactory, **engine_kw: Any
) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """An empty database of `kind` (its URL and an engine), dropped afterwards."""
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("db") / f"{_safe_name(name)}.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        admin_url = postgres_admin_url()
        assert admin_url, "PostgreSQL tests need TEST_DATABASE_URL"
        db_name = _safe_name(f"handbook_{RUN_TAG}_{name}")
        await _admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{db_name}"')
        url = make_url(admin_url).set(database=db_name).render_as_string(hide_password=False)
    engine = create_engine(Settings(env=Env.TEST, database_url=url), **engine_kw)
    try:
        yield url, engine
    finally:
        await engine.dispose()
        if kind != "sqlite":
            await _admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


@asynccontextmanager
async def migrated_database(
    kind: str, name: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    async with fresh_database(kind, name, tmp_path_factory) as (_url, engine):
        await migrate(engine)
        yield engine
