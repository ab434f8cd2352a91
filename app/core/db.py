"""Engine and sessionmakers.

Two sessionmakers share one engine: `write` for requests that change data and `read` for safe
methods. On PostgreSQL the read one runs in AUTOCOMMIT, which saves the BEGIN/ROLLBACK round
trips of a read-only request; on SQLite both emit their own BEGIN (the sqlite3 driver's legacy
transaction control breaks SAVEPOINTs), and writers take the lock up front with BEGIN IMMEDIATE so
two writers never deadlock upgrading a shared lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.core.config import Settings

SQLITE_BEGIN_OPTION = "sqlite_begin"


def create_engine(settings: Settings, *, null_pool: bool = False) -> AsyncEngine:
    url = make_url(settings.database_url)
    kwargs: dict[str, Any] = {"echo": settings.db.echo}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
        if null_pool:
            kwargs["poolclass"] = NullPool
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if null_pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(
            pool_size=settings.db.pool_size,
            max_overflow=settings.db.max_overflow,
            pool_timeout=settings.db.pool_timeout_s,
            pool_pre_ping=False,
        )
    if settings.db.statement_timeout_ms:
        kwargs["connect_args"] = {
            "server_settings": {
                "statement_timeout": str(settings.db.statement_timeout_ms),
                "application_name": "handbook",
            }
        }
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN " + options.get(SQLITE_BEGIN_OPTION, "DEFERRED"))


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    write: async_sessionmaker[AsyncSession]
    read: async_sessionmaker[AsyncSession]

    @classmethod
    def open(cls, settings: Settings, *, null_pool: bool = False) -> Database:
        engine = create_engine(settings, null_pool=null_pool)
        if engine.dialect.name == "sqlite":
            write_bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            read_bind = engine
        else:
            write_bind = engine
            read_bind = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(
            engine=engine,
            write=async_sessionmaker(write_bind, expire_on_commit=False),
            read=async_sessionmaker(read_bind, expire_on_commit=False),
        )

    async def close(self) -> None:
        await self.engine.dispose()
