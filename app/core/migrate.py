"""Alembic, driven from code: the configuration the CLI, the demo and the tests share."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """The migration tree with `database_url` (else `env.py` reads it from the settings)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def pending(database_url: str, revision: str = "head") -> list[tuple[str, str]]:
    """The migrations `upgrade(revision)` would apply, oldest first: (revision, description)."""
    script = ScriptDirectory.from_config(alembic_config())
    current = asyncio.run(_current_heads(database_url))
    steps = list(script.iterate_revisions(revision, current or None))
    return [(step.revision, (step.doc or "").strip()) for step in reversed(steps)]


async def _current_heads(database_url: str) -> tuple[str, ...]:
    from app.core.config import async_database_url
    from app.core.db import ensure_sqlite_dir

    ensure_sqlite_dir(database_url)
    engine = create_async_engine(async_database_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    finally:
        await engine.dispose()


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str | None = None) -> None:
    command.current(alembic_config(database_url), verbose=True)
