"""Engine and sessionmakers.

Two sessionmakers share one engine: `write` for requests that change data and `read` for safe
methods, whose sessions refuse to write (a GET never writes). On PostgreSQL the read one runs
in AUTOCOMMIT, which saves the BEGIN/ROLLBACK round trips of a read-only request; on SQLite both
emit their own BEGIN (the sqlite3 driver's legacy transaction control breaks SAVEPOINTs), and
writers take the lock up front with BEGIN IMMEDIATE so two writers never deadlock upgrading a
shared lock. A third, `autocommit` (PostgreSQL only), runs a write that is one statement (an
idempotency claim) as its own transaction: one round trip instead of BEGIN, statement, COMMIT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import asyncpg
import orjson
from sqlalchemy import ColumnElement, event, literal_column, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from app.core.config import Settings

SQLITE_BEGIN_OPTION = "sqlite_begin"


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the directory of an SQLite file (the embedded default lives under var/)."""
    url = make_url(database_url)
    database = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(settings: Settings, *, null_pool: bool = False) -> AsyncEngine:
    url = make_url(settings.database_url)
    # Statement parameters never reach logs or error texts (they may hold hashes or phones).
    kwargs: dict[str, Any] = {"echo": settings.db.echo, "hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_dir(settings.database_url)
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


class ReadOnlySessionError(RuntimeError):
    """A safe method (GET/HEAD) tried to write: writes belong to POST/PUT/PATCH/DELETE."""


class ReadOnlySession(Session):
    """The session of safe methods: it refuses to flush changes or run INSERT/UPDATE/DELETE."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("a read-only (GET) session cannot write")


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("a read-only (GET) session cannot write")


def read_only_sessionmaker(bind: Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind, sync_session_class=ReadOnlySession, expire_on_commit=False, **kwargs
    )


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    write: async_sessionmaker[AsyncSession]
    read: async_sessionmaker[AsyncSession]
    # Writes of one statement outside the request's unit of work (an idempotency claim): on
    # PostgreSQL in AUTOCOMMIT, the statement its own transaction without BEGIN and COMMIT round
    # trips. None where there is none (SQLite, tests): `single` is then the write sessionmaker.
    autocommit: async_sessionmaker[AsyncSession] | None = None

    @property
    def single(self) -> async_sessionmaker[AsyncSession]:
        """The sessionmaker for a write of one statement (commit it: a no-op in AUTOCOMMIT)."""
        return self.autocommit or self.write

    @classmethod
    def open(cls, settings: Settings, *, null_pool: bool = False) -> Database:
        return cls.over(create_engine(settings, null_pool=null_pool))

    @classmethod
    def over(cls, engine: AsyncEngine) -> Database:
        """The write and read sessions over an engine made elsewhere (the CLI's, the bench's)."""
        autocommit = None
        if engine.dialect.name == "sqlite":
            write_bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            read_bind = engine
        else:
            write_bind = engine
            read_bind = engine.execution_options(isolation_level="AUTOCOMMIT")
            autocommit = async_sessionmaker(read_bind, expire_on_commit=False)
        return cls(
            engine=engine,
            write=async_sessionmaker(write_bind, expire_on_commit=False),
            read=read_only_sessionmaker(read_bind),
            autocommit=autocommit,
        )

    async def close(self) -> None:
        await self.engine.dispose()

    def pool_stats(self) -> tuple[int, int, int] | None:
        """(in use, idle, capacity) of the ORM pool; None for pools that keep no count."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return pool.checkedout(), pool.checkedin(), pool.size() + max(0, pool._max_overflow)


# --- the lean read path ---------------------------------------------------------------------------
#
# The hottest reads (the actor of every request, guards, the members page) skip the ORM session:
# each is a Core statement compiled once, run on PostgreSQL straight on an asyncpg pool with
# prepared statements (one round trip, no BEGIN/ROLLBACK, no per-request compilation or cache-key
# work), and through a session on SQLite. Only plain parameters (str, int, bool) are bound: no
# type processing happens on the asyncpg path, and timestamptz comes back tz-aware by itself.

_ASYNCPG_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    order: tuple[str, ...]
    # Values fixed in the statement itself (`.values(state="done")`, `column != "present"`): bound
    # from here, so only the named parameters come from the caller.
    fixed: Mapping[str, Any]


class FastQuery:
    """A Core statement (a select, or an insert, update or delete, with `RETURNING` where its
    rows are wanted) with named `bindparam`s, compiled once per dialect.

    `generic=True` runs it on PostgreSQL with one generic plan, kept for the connection's life
    (`plan_cache_mode=force_generic_plan`). PostgreSQL's own choice re-plans a statement on every
    execution when a custom plan looks cheaper than the generic one, which it does for statements
    with ranges or lists among their parameters: a document's detail spent 0.8 ms of its 1.1 ms
    planning. Only for statements whose best plan cannot depend on the values bound: anchored on
    a key (an id, one exact unit), never a path range whose width varies from a branch to the
    province (a generic plan for a branch's leaderboard took 69 ms instead of 1.3)."""

    __slots__ = ("_asyncpg", "generic", "statement")

    def __init__(self, statement: Executable, *, generic: bool = False) -> None:
        self.statement = statement
        self.generic = generic
        self._asyncpg: _Compiled | None = None

    def for_asyncpg(self) -> _Compiled:
        if self._asyncpg is None:
            compiled = cast(
                SQLCompiler, cast(ClauseElement, self.statement).compile(dialect=_ASYNCPG_DIALECT)
            )
            order = tuple(compiled.positiontup or ())
            fixed = {
                name: compiled.binds[name].effective_value
                for name in order
                if not compiled.binds[name].required
            }
            self._asyncpg = _Compiled(compiled.string, order, fixed)
        return self._asyncpg

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        compiled = self.for_asyncpg()
        if not compiled.fixed:
            return [params[name] for name in compiled.order]
        return [params[name] if name in params else compiled.fixed[name] for name in compiled.order]


def constant(value: str) -> ColumnElement[str]:
    """A fixed string in the SQL of a `FastQuery` itself (the lean reader binds only named
    parameters, so `column == "published"` would leave an unnamed one): enum values, never input."""
    assert value.isidentifier()  # noqa: S101 - enum values only, never input
    return literal_column(f"'{value}'")


# A row of the lean read path, read by column name (`row["full_name"]`): an asyncpg Record on
# PostgreSQL, a SQLAlchemy RowMapping elsewhere. Label columns whose names would repeat.
Row = Mapping[str, Any]


class Reader(Protocol):
    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        """All rows, each read by column name."""
        ...

    async def aclose(self) -> None: ...


class SessionReader:
    """Runs fast queries through a sessionmaker (SQLite, and anything without asyncpg)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self._maker = maker

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        async with self._maker() as session:
            result = await session.execute(query.statement, dict(params))
            return cast(list[Row], list(result.mappings().all()))

    async def aclose(self) -> None:
        return None


class Statements(Protocol):
    """Compiled statements run inside one transaction (a unit of work): reads that see its own
    writes, and writes. `dialect` names the database, for the few statements written per
    database (`INSERT … ON CONFLICT`, JSON functions)."""

    @property
    def dialect(self) -> str: ...

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        """The statement's rows (a select, or a write's `RETURNING`), each read by column name."""
        ...

    async def execute(
        self, query: FastQuery, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """A write without rows; a list of parameter sets runs it once for each."""
        ...


class SessionQueries:
    """A request's own session as `Statements` (and as a `Reader`): the same compiled statements
    run inside its transaction, for a write that answers with what it just wrote (the lean
    reader, on a connection of its own, would not see it), and on SQLite for the lean unit of
    work (`SessionWriter`)."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def dialect(self) -> str:
        return self._session.get_bind().dialect.name

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        result = await self._session.execute(query.statement, dict(params))
        return cast(list[Row], list(result.mappings().all()))

    async def execute(
        self, query: FastQuery, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        if isinstance(params, Mapping):
            await self._session.execute(query.statement, dict(params))
        elif params:
            await self._session.execute(query.statement, [dict(p) for p in params])

    async def aclose(self) -> None:
        return None


class _Connections:
    """asyncpg connections of one kind, kept on a stack instead of an `asyncpg.Pool`: the pool's
    acquire and release cost an event-loop task and a shield a query (its release runs in
    `asyncio.shield`), a tenth of a hot read's server CPU. The FIFO gate in front of it (a
    semaphore of the pool's size, `AsyncpgReader`, `AsyncpgWriter`) decides who may take one, so
    taking never waits on another's release: the last one given back, or a new connection.

    A connection given back is sound (the caller gives back only what finished its work, idle
    outside a transaction); one cut short (a cancelled request, a lost server) is discarded."""

    __slots__ = ("_dsn", "_idle", "_init", "_open", "_settings")

    def __init__(
        self,
        dsn: str,
        settings: Mapping[str, str],
        init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        self._dsn = dsn
        self._settings = dict(settings)
        self._init = init
        self._idle: list[asyncpg.Connection] = []
        self._open: set[asyncpg.Connection] = set()

    async def take(self) -> asyncpg.Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._open.discard(connection)  # the server closed it while it was idle
        connection = await asyncpg.connect(self._dsn, server_settings=self._settings)
        try:
            if self._init is not None:
                await self._init(connection)
        except BaseException:
            connection.terminate()
            raise
        self._open.add(connection)
        return connection

    def give_back(self, connection: asyncpg.Connection) -> None:
        self._idle.append(connection)

    def discard(self, connection: asyncpg.Connection) -> None:
        self._open.discard(connection)
        connection.terminate()

    def sizes(self) -> tuple[int, int]:
        """(open, idle)."""
        return len(self._open), len(self._idle)

    async def close(self) -> None:
        connections, self._open, self._idle = list(self._open), set(), []
        for connection in connections:
            try:
                await connection.close(timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()


class AsyncpgReader:
    """Connections of their own for the lean reads (`_Connections`), opened on first use; the
    statements that keep one generic plan (`FastQuery.generic`) run on connections set so. A
    FIFO gate of the pool's size in front of both: together they never hold more than the
    pool's size busy, and waiters are served in order (no long p99 tail under load)."""

    def __init__(self, settings: Settings) -> None:
        url = make_url(settings.database_url)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = settings.db.read_pool_size
        common = {
            "statement_timeout": str(settings.db.statement_timeout_ms),
            "application_name": "handbook-read",
            "default_transaction_read_only": "on",
        }
        # By `FastQuery.generic`: PostgreSQL's own plan choice, and the generic plan.
        self._connections = {
            False: _Connections(dsn, common),
            True: _Connections(dsn, {**common, "plan_cache_mode": "force_generic_plan"}),
        }
        self._gate = asyncio.Semaphore(self._size)

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        connections = self._connections[query.generic]
        compiled = query.for_asyncpg()
        async with self._gate:
            connection = await connections.take()
            try:
                rows: Sequence[Row] = await connection.fetch(compiled.sql, *query.args(params))
            except asyncpg.PostgresError:
                # The server refused the statement (a timeout, bad input): in autocommit the
                # connection is idle again.
                connections.give_back(connection)
                raise
            except BaseException:
                connections.discard(connection)
                raise
            connections.give_back(connection)
            return rows

    def pool_stats(self) -> tuple[int, int, int]:
        """(in use, idle, capacity) of the lean read pool."""
        size = idle = 0
        for connections in self._connections.values():
            open_, idle_ = connections.sizes()
            size, idle = size + open_, idle + idle_
        return size - idle, idle, self._size

    async def aclose(self) -> None:
        for connections in self._connections.values():
            await connections.close()


# --- the lean unit of work ------------------------------------------------------------------------
#
# A write that many members make at once (a check-in, a quiz submit) skips the ORM session too:
# its statements are compiled `FastQuery`s run in one transaction, on PostgreSQL straight on an
# asyncpg pool of its own (BEGIN, the statements, COMMIT: no pool checkout through SQLAlchemy, no
# greenlet hops, no per-request compilation), on SQLite through a write session (the same
# statements, `SessionQueries`). `api.deps.LeanUnitDep` frames it per request (the idempotency
# claim first, the stored answer last, one commit).


class LeanUnit(Statements, Protocol):
    """One transaction of compiled statements: `commit()` once, or `rollback()`; leaving it
    without either rolls back."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Writer(Protocol):
    def unit(self) -> Any:
        """`async with writer.unit() as unit:` a transaction begun on a connection of the pool."""
        ...

    async def aclose(self) -> None: ...


class _SessionUnit(SessionQueries):
    __slots__ = ("_done",)

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._done = False

    async def commit(self) -> None:
        self._done = True
        await self._session.commit()

    async def rollback(self) -> None:
        self._done = True
        await self._session.rollback()


class SessionWriter:
    """The lean unit of work through a write sessionmaker (SQLite, and tests, whose sessions
    join the test's transaction)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self._maker = maker

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[LeanUnit]:
        async with self._maker() as session:
            unit = _SessionUnit(session)
            try:
                yield unit
            finally:
                if not unit._done:
                    await session.rollback()

    async def aclose(self) -> None:
        return None


class _AsyncpgUnit:
    __slots__ = ("_connection", "_done")

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._done = False

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        rows: Sequence[Row] = await self._connection.fetch(
            query.for_asyncpg().sql, *query.args(params)
        )
        return rows

    async def execute(
        self, query: FastQuery, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        sql = query.for_asyncpg().sql
        if isinstance(params, Mapping):
            await self._connection.execute(sql, *query.args(params))
        elif params:
            await self._connection.executemany(sql, [query.args(p) for p in params])

    async def commit(self) -> None:
        self._done = True
        await self._connection.execute("COMMIT")

    async def rollback(self) -> None:
        self._done = True
        await self._connection.execute("ROLLBACK")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_write_connection(connection: asyncpg.Connection) -> None:
    """JSON in and out as Python values, as the ORM's `JSON` columns give them."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_json_dumps, decoder=orjson.loads, schema="pg_catalog"
        )


class AsyncpgWriter:
    """The lean unit of work on PostgreSQL: connections of its own (`_Connections`, at most
    `DB__POOL_SIZE` + `DB__MAX_OVERFLOW`, opened on first use), a FIFO gate in front of them as
    the reader has, and the write pool's timeout: a request that waits longer for a connection
    is answered 503 `server.busy`, as on the ORM pool."""

    def __init__(self, settings: Settings) -> None:
        url = make_url(settings.database_url)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._timeout_s = settings.db.pool_timeout_s
        self._connections = _Connections(
            dsn,
            {
                "statement_timeout": str(settings.db.statement_timeout_ms),
                "application_name": "handbook-write",
            },
            init=_init_write_connection,
        )
        self._gate = asyncio.Semaphore(settings.db.pool_size + settings.db.max_overflow)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[LeanUnit]:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._gate.acquire()
        except TimeoutError as exc:
            raise PoolTimeout("the lean write pool stayed busy") from exc
        try:
            connection = await self._connections.take()
        except BaseException:
            self._gate.release()
            raise
        unit = _AsyncpgUnit(connection)
        sound = cut = False
        try:
            await connection.execute("BEGIN")
            try:
                yield unit
            except BaseException as exc:
                cut = not isinstance(exc, Exception)  # cancelled, perhaps mid-statement
                raise
            finally:
                # A unit always ends with COMMIT or ROLLBACK: one left without either is
                # rolled back here. A connection cut short, or whose ending fails, is not used
                # again.
                try:
                    if not unit._done and not connection.is_closed():
                        await connection.execute("ROLLBACK")
                    sound = not (cut or connection.is_closed() or connection.is_in_transaction())
                except Exception:
                    sound = False
        finally:
            if sound:
                self._connections.give_back(connection)
            else:
                self._connections.discard(connection)
            self._gate.release()

    async def aclose(self) -> None:
        await self._connections.close()


def build_writer(settings: Settings, db: Database) -> Writer:
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        return AsyncpgWriter(settings)
    return SessionWriter(db.write)


def build_reader(settings: Settings, db: Database) -> Reader:
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        return AsyncpgReader(settings)
    return SessionReader(db.read)


def dialect_insert(session: AsyncSession | str, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` (`on_conflict_do_nothing/do_update`) for the session's
    database (or the dialect named): PostgreSQL's, or SQLite's (the same API)."""
    dialect = session if isinstance(session, str) else session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def lock_tables(
    session: AsyncSession,
    tables: Sequence[str],
    mode: str,
    *,
    tries: int = 400,
    pause_s: float = 0.025,
) -> None:
    """Take every table's lock at once in the session's transaction, never waiting while holding
    one (PostgreSQL; nothing to do on SQLite, whose writers are serialised anyway): `LOCK …
    NOWAIT` inside a savepoint takes them all or none, and is tried again a moment later, so a
    request that holds one of them and wants another is never deadlocked by us (the same
    pattern as migrations 0810 and 0820, which keep their own frozen copies)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    assert mode.replace(" ", "").isalpha()  # noqa: S101 - a lock mode from our code, never input
    names = ", ".join(tables)
    for _ in range(tries):
        try:
            async with session.begin_nested():
                await session.execute(text(f"LOCK TABLE {names} IN {mode} MODE NOWAIT"))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            await asyncio.sleep(pause_s)
            continue
        return
    raise RuntimeError(f"could not lock {names}: they stayed busy")
