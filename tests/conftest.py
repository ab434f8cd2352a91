"""Test harness: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.

- Each xdist worker builds its own databases once per run by running the Alembic migrations
  (never `create_all`): an SQLite file in a temp dir, and `handbook_test_<worker>` created next to
  the database TEST_DATABASE_URL points at.
- Each test runs inside a transaction on one connection that is rolled back at the end; the app's
  sessions join it with SAVEPOINTs, so a request's commit is real inside the test and gone after.
- HTTP goes through the real ASGI app with httpx.AsyncClient.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.bench.fcm_stub import FcmStub, fake_service_account
from app.core.config import AuthSettings, Env, OpsSettings, Settings, StorageSettings
from app.core.db import (
    Database,
    FastQuery,
    Reader,
    Row,
    SessionReader,
    SessionWriter,
    read_only_sessionmaker,
)
from app.core.ratelimit import MemoryRateLimiter
from app.integrations.sms import ConsoleSmsGateway
from app.integrations.storage import LocalStorage
from app.main import create_app
from app.resources import Resources
from tests import dbs, problem_codes
from tests.factories import Tree, build_tree, login_headers
from tests.stubs import StubSmsServer

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

TEST_SECRET = "test-secret-" + "x" * 40
S3_ACCESS_KEY_ID = "AKIATESTHANDBOOK0001"
S3_SECRET = "s3-secret-9c4f1a7e2b5d8c3f6a9e"
METRICS_TOKEN = "metrics-token-" + "m" * 30
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.pop("DATABASE_URL", None)  # tests never read DATABASE_URL
    workerinput = getattr(config, "workerinput", None)
    if workerinput:
        dbs.RUN_TAG = workerinput["testrunuid"][:10]
    else:
        # The controller picks the run's id and hands it to its xdist workers.
        run_uid = getattr(config.option, "testrunuid", None) or uuid.uuid4().hex
        if hasattr(config.option, "testrunuid"):
            config.option.testrunuid = run_uid
        dbs.RUN_TAG = run_uid[:10]
    problem_codes.install()


# The fuzz run's cases by operation and role (`tests/test_fuzz.py`), full roles.
_FUZZ_CONTRACT = "tests/test_fuzz.py::test_api_keeps_its_contract["


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fuzz run's creates (operations answering 201) go first on each database, before the
    fuzzed writes that reshape the demo province (merges, dissolutions, moves, role changes)
    run: what a create meets is then the province as seeded, and `test_creates_succeed` does not
    depend on what those writes happened to do. Every case still runs, in a fixed order."""
    slots = [i for i, item in enumerate(items) if item.nodeid.startswith(_FUZZ_CONTRACT)]
    if not slots:
        return
    document = json.loads((Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())
    creates = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "201" in operation.get("responses", {})
    }
    databases: dict[str, int] = {}

    def key(item: pytest.Item) -> tuple[int, bool]:
        operation, params = item.nodeid[len(_FUZZ_CONTRACT) :].split("][", 1)
        database = databases.setdefault(params.split("-", 1)[0], len(databases))
        return database, operation not in creates

    ordered = sorted((items[i] for i in slots), key=key)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With TEST_DATABASE_URL set, PostgreSQL must answer: the run fails at once rather than
    erroring test by test (or passing on SQLite alone); `.ci/run` relies on this."""
    if getattr(session.config, "workerinput", None) is not None or not dbs.postgres_admin_url():
        return
    problem = asyncio.run(dbs.unreachable())
    if problem:
        pytest.exit(f"TEST_DATABASE_URL is set but PostgreSQL does not answer: {problem}", 3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Problem codes the run observed must be in the OpenAPI document (see tests/problem_codes.py):
    each worker saves what it saw; the controller (or the only process) checks them all."""
    workerinput = getattr(session.config, "workerinput", None)
    problem_codes.save(dbs.RUN_TAG, workerinput["workerid"] if workerinput else "main")
    if workerinput is not None:
        return
    suite, fuzz = problem_codes.load(dbs.RUN_TAG)
    spec = create_app(make_settings()).openapi()
    gaps = problem_codes.missing(spec, suite)
    fuzz_gaps = [gap for gap in problem_codes.missing(spec, fuzz) if gap not in gaps]
    directory = problem_codes.run_dir(dbs.RUN_TAG)
    (directory / "missing.json").write_text(json.dumps(gaps + fuzz_gaps))
    strict = bool(os.environ.get("FUZZ_CODES_STRICT"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for found, fails in ((gaps, True), (fuzz_gaps, strict)):
        if not found:
            continue
        text = problem_codes.report(found) + f"\n(also in {directory / 'missing.json'})"
        if found is fuzz_gaps:
            text = "met by the fuzz run only (fails with FUZZ_CODES_STRICT=1): " + text
        if reporter is not None:
            reporter.write_line(text, red=fails, yellow=not fails)
        if fails and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def database_params() -> list[str]:
    return ["sqlite", "postgresql"] if dbs.postgres_admin_url() else ["sqlite"]


def make_settings(database_url: str = "sqlite+aiosqlite:///:memory:", **auth: object) -> Settings:
    return Settings(
        env=Env.TEST,
        database_url=database_url,
        auth=AuthSettings(secret_key=SecretStr(TEST_SECRET), **auth),  # type: ignore[arg-type]
        ops=OpsSettings(metrics_token=SecretStr(METRICS_TOKEN)),
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


@dataclass(frozen=True)
class FreshDatabase:
    kind: str  # "sqlite" or "postgresql"
    url: str  # SQLAlchemy URL (sqlite+aiosqlite://… or postgresql+asyncpg://…)
    engine: AsyncEngine

    @property
    def plain_url(self) -> str:
        """The URL as an operator writes it (postgresql://…, sqlite:///…)."""
        return self.url.replace("sqlite+aiosqlite://", "sqlite://").replace(
            "postgresql+asyncpg://", "postgresql://"
        )


@pytest.fixture(params=database_params())
async def fresh_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> AsyncIterator[FreshDatabase]:
    """An empty database of each kind, of its own (not migrated), dropped afterwards: for tests
    that need committed data, several connections or a blank schema."""
    async with dbs.fresh_database(request.param, f"fresh_{worker_id}", tmp_path_factory) as (
        url,
        engine,
    ):
        yield FreshDatabase(kind=request.param, url=url, engine=engine)


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
    compiled SQL production runs on its pool. Each statement is also announced to the
    connection's `before_cursor_execute` listeners, so a test counting a request's statements
    counts the lean reads too, on PostgreSQL as on SQLite (where they run through a session)."""

    def __init__(self, connection: Any, owner: AsyncConnection) -> None:
        self._connection = connection
        self._owner = owner

    async def fetch(self, query: FastQuery, params: Mapping[str, Any]) -> Sequence[Row]:
        sql, args = query.for_asyncpg().sql, query.args(params)
        sync = self._owner.sync_connection
        if sync is not None:
            sync.dispatch.before_cursor_execute(sync, None, sql, args, None, False)
        rows: Sequence[Row] = await self._connection.fetch(sql, *args)
        return rows

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def reader(
    connection: AsyncConnection, sessionmaker: async_sessionmaker[AsyncSession]
) -> Reader:
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        return ConnectionReader(raw.driver_connection, connection)
    return SessionReader(sessionmaker)


@pytest.fixture
def storage(settings: Settings, tmp_path: Path) -> LocalStorage:
    """The embedded storage in the test's own directory."""
    return LocalStorage(
        tmp_path / "storage",
        public_base_url=settings.public_base_url,
        secret_key=settings.auth.secret_key,
    )


@pytest.fixture
def resources(
    settings: Settings,
    engine: AsyncEngine,
    connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
    reader: Reader,
    storage: LocalStorage,
) -> Resources:
    read = read_only_sessionmaker(connection, join_transaction_mode="create_savepoint")
    # The lean unit of work runs through the test's own session (it joins the test's transaction);
    # its asyncpg path is exercised by the concurrency tests, on databases of their own.
    resources = Resources.build(
        settings,
        db=Database(engine=engine, write=sessionmaker, read=read),
        reader=reader,
        writer=SessionWriter(sessionmaker),
    )
    resources.storage = storage
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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto's server mode) on 127.0.0.1, one per test worker."""
    from moto.server import ThreadedMotoServer  # imported here: only runs that use S3 pay for it

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Iterator[S3Client]:
    """A plain boto3 client of the local S3 server, for setting up and inspecting buckets."""
    import boto3

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    yield client
    client.close()


@pytest.fixture
def s3_settings(s3_endpoint: str, s3_admin: S3Client) -> StorageSettings:
    """Storage settings for a fresh bucket on the local S3 server (parts as small as S3 allows)."""
    settings = StorageSettings(
        backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"handbook-{uuid.uuid4().hex[:16]}",
        s3_region="us-east-1",
        s3_access_key_id=S3_ACCESS_KEY_ID,
        s3_secret_access_key=SecretStr(S3_SECRET),
        s3_multipart_threshold_mb=5,
        s3_part_size_mb=5,
    )
    s3_admin.create_bucket(Bucket=settings.s3_bucket)
    return settings


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

    async def __call__(self, member_id: int, *, otp_verified: bool = False) -> dict[str, str]:
        headers = await login_headers(
            self.session, self.resources.auth.codec, member_id, otp_verified=otp_verified
        )
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
