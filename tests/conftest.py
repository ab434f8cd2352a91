"""Test harness: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.

- Each xdist worker builds its own databases once per run by running the Alembic migrations
  (never `create_all`): an SQLite file in a temp dir, and `handbook_test_<worker>` created next to
  the database TEST_DATABASE_URL points at.
- Each test runs inside a transaction on one connection that is rolled back at the end; the app's
  sessions join it with SAVEPOINTs, so a request's commit is real inside the test and gone after.
- HTTP goes through the real ASGI app with httpx.AsyncClient.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.bench.fcm_stub import FcmStub, fake_service_account
from app.core.config import AuthSettings, Env, Settings
from app.core.db import Database, FastQuery, Reader, SessionReader
from app.core.ratelimit import MemoryRateLimiter
from app.integrations.sms import ConsoleSmsGateway
from app.main import create_app
from app.resources import Resources
from tests import dbs
from tests.factories import Tree, build_tree, login_headers
from tests.stubs import StubSmsServer

TEST_SECRET = "test-secret-" + "x" * 40


def pytest_configure(config: pytest.Config) -> None:
    os.environ.pop("DATABASE_URL", None)  # tests never read DATABASE_URL
    workerinput = getattr(config, "workerinput", None)
    dbs.RUN_TAG = workerinput["testrunuid"][:10] if workerinput else uuid.uuid4().hex[:10]


def database_params() -> list[str]:
    return ["sqlite", "postgresql"] if dbs.postgres_admin_url() else ["sqlite"]


def make_settings(database_url: str = "sqlite+aiosqlite:///:memory:", **auth: object) -> Settings:
    return Settings(
        env=Env.TEST,
        database_url=database_url,
        auth=AuthSettings(secret_key=SecretStr(TEST_SECRET), **auth),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(scope="session", params=database_params())
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> AsyncIterator[AsyncEngine]:
    """A migrated database of the parametrised kind, for this worker."""
    kind: str = request.param
    async with dbs.migrated_database(kind, f"test_{worker_id}", tmp_path_factory) as engine:
        yield engine


@pytest.fixture
def db_kind(engine: AsyncEngine) -> str:
    return engine.dialect.name


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


class ConnectionReader:
    """The asyncpg read path, on the test's own connection (so it sees the test's data): the same
    compiled SQL production runs on its pool."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Any]:
        rows: Sequence[Any] = await self._connection.fetch(
            query.for_asyncpg().sql, *query.args(params)
        )
        return rows

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def reader(
    connection: AsyncConnection, sessionmaker: async_sessionmaker[AsyncSession]
) -> Reader:
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        return ConnectionReader(raw.driver_connection)
    return SessionReader(sessionmaker)


@pytest.fixture
def resources(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    reader: Reader,
) -> Resources:
    resources = Resources.build(
        settings, db=Database(engine=engine, write=sessionmaker, read=sessionmaker), reader=reader
    )
    resources.sms = ConsoleSmsGateway()
    resources.limiter = resources.auth.limiter = MemoryRateLimiter()
    return resources


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    app.state.resources = resources
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    app.state.resources = None


@pytest.fixture
def sms_provider() -> Iterator[StubSmsServer]:
    """A local SMS provider over real HTTP on 127.0.0.1 (see tests/stubs.py)."""
    server = StubSmsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sms(resources: Resources) -> ConsoleSmsGateway:
    assert isinstance(resources.sms, ConsoleSmsGateway)
    return resources.sms


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    """The canonical province: see `tests.factories.build_tree`."""
    tree = await build_tree(session)
    await session.commit()
    return tree


@dataclass
class ActorLogin:
    """Mints tokens for a member (a real session row, a real signed JWT)."""

    session: AsyncSession
    resources: Resources

    async def __call__(self, member_id: int) -> dict[str, str]:
        headers = await login_headers(self.session, self.resources.auth.codec, member_id)
        await self.session.commit()
        return headers


@pytest.fixture
def as_actor(session: AsyncSession, resources: Resources) -> ActorLogin:
    return ActorLogin(session, resources)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fcm_stub() -> Iterator[FcmStub]:
    """FCM v1 and the OAuth token endpoint on 127.0.0.1 (see app/bench/fcm_stub.py)."""
    stub = FcmStub().start_in_thread()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture(scope="session")
def service_account(fcm_stub: FcmStub) -> dict[str, Any]:
    """A service account of a key generated for the run, whose token_uri is the stub's."""
    return fake_service_account(fcm_stub.base_url + "/token")
