"""The read session of safe methods refuses to write; the lean reader's plan choice; table locks
taken all at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Select, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.db import (
    AsyncpgReader,
    FastQuery,
    ReadOnlySessionError,
    lock_tables,
    read_only_sessionmaker,
)
from app.models import Org, OrgKind
from tests import dbs
from tests.conftest import make_settings


async def test_a_read_session_refuses_to_flush_or_run_dml(connection: AsyncConnection) -> None:
    maker = read_only_sessionmaker(connection, join_transaction_mode="create_savepoint")
    async with maker() as session:
        session.add(
            Org(kind=OrgKind.BRANCH, name="Chi bộ", name_folded="chi bo", path="/x/", depth=0)
        )
        with pytest.raises(ReadOnlySessionError):
            await session.flush()
    async with maker() as session:
        with pytest.raises(ReadOnlySessionError):
            await session.execute(update(Org).values(name="x"))


async def test_the_lean_reader_keeps_generic_plans_only_for_statements_that_ask() -> None:
    """`FastQuery(generic=True)` runs on connections set to one generic plan; the rest keep
    PostgreSQL's own choice; both pools count in the reader's capacity and close together."""
    url = dbs.postgres_admin_url()
    if url is None:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    setting: Select[Any] = select(
        literal_column("current_setting('plan_cache_mode')").label("mode")
    )
    reader = AsyncpgReader(make_settings(url))
    try:
        own = await reader.fetch(FastQuery(setting), {})
        generic = await reader.fetch(FastQuery(setting, generic=True), {})
        assert [row["mode"] for row in own] == ["auto"]
        assert [row["mode"] for row in generic] == ["force_generic_plan"]
        in_use, idle, capacity = reader.pool_stats()
        assert (in_use, idle) == (0, 2)
        assert capacity == make_settings(url).db.read_pool_size
    finally:
        await reader.aclose()
    assert reader.pool_stats()[:2] == (0, 0)


async def test_lock_tables_waits_for_a_write_in_flight_without_holding_a_lock_meanwhile(
    engine: AsyncEngine,
) -> None:
    """`lock_tables` takes all its tables or none: while a write holds one of them, the caller
    holds nothing (the other table stays writable), and it gets both once the write commits."""
    if engine.dialect.name != "postgresql":
        pytest.skip("table locks are PostgreSQL's (SQLite serialises its writers)")
    tables = ("document_branch_reads", "document_unit_reads")
    async with engine.connect() as writer, engine.connect() as other:
        await writer.begin()
        await writer.execute(text("LOCK TABLE document_unit_reads IN ROW EXCLUSIVE MODE"))
        async with AsyncSession(engine) as session, session.begin():
            locking = asyncio.create_task(lock_tables(session, tables, "SHARE ROW EXCLUSIVE"))
            await asyncio.sleep(0.3)
            assert not locking.done()
            # Meanwhile the other table is not held: a write to it goes through at once.
            await other.begin()
            await other.execute(
                text("LOCK TABLE document_branch_reads IN ROW EXCLUSIVE MODE NOWAIT")
            )
            await other.rollback()
            await writer.rollback()  # the write in flight ends
            await asyncio.wait_for(locking, timeout=10)
            held = await session.execute(
                text(
                    "SELECT relation::regclass::text FROM pg_locks WHERE pid = pg_backend_pid() "
                    "AND mode = 'ShareRowExclusiveLock' ORDER BY 1"
                )
            )
            assert tuple(held.scalars()) == tables
