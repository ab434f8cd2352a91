"""Alembic environment: async, one migration tree for SQLite and PostgreSQL.

The database comes from, in order: a connection handed over by the caller
(`config.attributes["connection"]`, used by tests and `handbook db`), a URL in
`config.attributes["database_url"]`, or the application settings (`DATABASE_URL`).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import async_database_url, get_settings
from app.core.db import ensure_sqlite_dir
from app.models import Base
from app.models.base import include_object_for

config = context.config
# pg_advisory_xact_lock key held while migrating ("handbook" in ASCII as an integer).
MIGRATION_LOCK_KEY = 0x68616E64626F6F6B
target_metadata = Base.metadata


def do_run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "sqlite" and not connection.in_transaction():
        # Batch operations rebuild tables (copy, drop, rename): with foreign keys on, dropping
        # the old table would cascade into the tables that reference it.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object_for(connection.dialect.name),
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # One upgrade at a time: a second run (another replica's migration job) waits here,
            # then finds the database at head and does nothing. Taken before the lock timeout,
            # which is for the migrations' own table locks.
            context.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            context.execute("SET LOCAL lock_timeout = '5s'")
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    ensure_sqlite_dir(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = config.attributes.get("database_url") or get_settings().database_url
    asyncio.run(run_async_migrations(async_database_url(url)))


def run_migrations_offline() -> None:
    url = config.attributes.get("database_url") or get_settings().database_url
    context.configure(
        url=async_database_url(url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        include_object=include_object_for("sqlite" if url.startswith("sqlite") else "postgresql"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
