"""The read session of safe methods refuses to write; the lean reader's plan choice; table locks
taken all at once."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Select, func, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.db import (
    AsyncpgReader,
    AsyncpgWriter,
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


def _postgres_url() -> str:
    url = dbs.postgres_admin_url()
    if url is None:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    return url


_ONE: Select[Any] = select(literal_column("1").label("one"))
_REFUSED: Select[Any] = select(literal_column("1 / 0").label("never"))
_SLOW: Select[Any] = select(func.pg_sleep(5).label("slept"))


async def test_the_lean_reader_keeps_a_refused_statements_connection_and_drops_a_cut_one() -> None:
    """A statement the server refuses leaves its connection idle and reused; one cut short
    (a cancelled request) is closed, never handed to the next request; the reader goes on."""
    reader = AsyncpgReader(make_settings(_postgres_url()))
    try:
        await reader.fetch(FastQuery(_ONE), {})
        with pytest.raises(asyncpg.DivisionByZeroError):
            await reader.fetch(FastQuery(_REFUSED), {})
        assert reader.pool_stats()[:2] == (0, 1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.fetch(FastQuery(_SLOW), {}), timeout=0.2)
        assert reader.pool_stats()[:2] == (0, 0)
        assert [row["one"] for row in await reader.fetch(FastQuery(_ONE), {})] == [1]
        # A connection the server closed while it was idle is left behind.
        pid = (await reader.fetch(FastQuery(select(func.pg_backend_pid().label("pid"))), {}))[0]
        killer = await asyncpg.connect(_postgres_url().replace("+asyncpg", ""))
        try:
            await killer.fetchval("SELECT pg_terminate_backend($1)", pid["pid"])
        finally:
            await killer.close()
        await asyncio.sleep(0.3)
        assert [row["one"] for row in await reader.fetch(FastQuery(_ONE), {})] == [1]
        assert reader.pool_stats()[:2] == (0, 1)
    finally:
        await reader.aclose()


async def test_the_lean_writer_ends_every_unit_before_its_connection_is_reused() -> None:
    """A unit left without a commit is rolled back and its connection reused; a unit whose
    statement is cut short loses its connection; the next unit starts clean either way."""
    writer = AsyncpgWriter(make_settings(_postgres_url()))

    async def in_transaction() -> bool:
        async with writer.unit() as unit:
            rows = await unit.fetch(
                FastQuery(select(literal_column("now() = statement_timestamp()").label("fresh"))),
                {},
            )
            await unit.commit()
        return not rows[0]["fresh"]  # in a transaction begun before this statement

    async def failing_unit() -> None:
        async with writer.unit() as unit:
            await unit.fetch(FastQuery(_ONE), {})
            raise RuntimeError("the handler failed")

    try:
        with pytest.raises(RuntimeError):
            await failing_unit()
        assert writer._connections.sizes() == (1, 1)
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with writer.unit() as unit:
                await unit.fetch(FastQuery(_REFUSED), {})
        assert writer._connections.sizes() == (1, 1)
        assert await in_transaction()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), writer.unit() as unit:
                await unit.fetch(FastQuery(_SLOW), {})
        assert writer._connections.sizes() == (0, 0)
        assert await in_transaction()
    finally:
        await writer.aclose()
    assert writer._connections.sizes() == (0, 0)


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
