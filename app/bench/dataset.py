"""The bench database: created if missing, migrated, seeded once with a generated province.

A database that already holds a generated province of the requested size is reused as it is, so
repeated runs start measuring within seconds; `--reset` drops and rebuilds it. The personas
(`parts.PERSONAS`) are picked deterministically, and each picked member gets a login session row
of its own (method "bench", removed at the end of the run) so that access tokens can be minted
exactly as the login endpoints do. The logins part gets a pool of members with a password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from pydantic import SecretStr
from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.bench.parts import Pick
from app.bench.wrk import BenchError
from app.core.config import AuthSettings, async_database_url
from app.core.security import TokenCodec, new_id
from app.models import AuthSession, Member, Org, OrgKind, RoleGrant
from app.models.base import utcnow

if TYPE_CHECKING:
    from app.bench.bursts import Batch, BurstKind, Check

TARGET_BRANCH_SIZE = 28
SESSION_METHOD = "bench"
ACCESS_TTL_S = 900  # the longest access token the settings allow

_org = cast(Table, Org.__table__)
_member = cast(Table, Member.__table__)
_grant = cast(Table, RoleGrant.__table__)
_session = cast(Table, AuthSession.__table__)


def database_url(url: str) -> URL:
    """The async (asyncpg) URL; only PostgreSQL is accepted."""
    parsed = make_url(async_database_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise BenchError(f"the benchmark needs PostgreSQL, not {parsed.get_backend_name()}")
    if not parsed.database:
        raise BenchError("the database URL names no database")
    return parsed


def safe_url(url: str) -> str:
    """The URL as it may be printed and stored (no password)."""
    return database_url(url).render_as_string(hide_password=True)


def _engine(url: URL, **kwargs: object) -> AsyncEngine:
    return create_async_engine(url, poolclass=NullPool, **kwargs)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(url: str, *, reset: bool) -> str:
    """Create the database if missing (dropping it first with `reset`); say what was done."""
    target = database_url(url)
    name = target.database or ""
    if name in {"postgres", "template0", "template1"}:
        raise BenchError(f"refusing to use the {name!r} database for the benchmark")
    admin = _engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if exists and reset:
                await conn.execute(text(f"DROP DATABASE {_quoted(name)} WITH (FORCE)"))
                exists = None
                dropped = True
            else:
                dropped = False
            if exists:
                return f"database {name} exists"
            await conn.execute(text(f"CREATE DATABASE {_quoted(name)}"))
            return f"database {name} {'dropped and re-created' if dropped else 'created'}"
    finally:
        await admin.dispose()


async def clone_database(url: str, suffix: str) -> tuple[str, float]:
    """A copy of the bench database, `<name><suffix>` (replaced if left over), for a part that
    writes (the import part): the province the reads are measured on stays as it was. Returns
    the copy's URL and the seconds the copy took (a file copy on PostgreSQL 15+)."""
    source = database_url(url)
    name = source.database or ""
    copy = name + suffix
    admin = _engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {_quoted(copy)} WITH (FORCE)"))
            version = int(await conn.scalar(text("SHOW server_version_num")) or 0)
            strategy = " STRATEGY FILE_COPY" if version >= 150_000 else ""
            create = text(f"CREATE DATABASE {_quoted(copy)} TEMPLATE {_quoted(name)}{strategy}")
            for attempt in range(1, 4):
                started = time.monotonic()
                try:
                    await conn.execute(create)
                    break
                except Exception as exc:
                    # The servers just stopped may still hold connections to the province for
                    # a moment (PostgreSQL waits 5 s for them); anything else is refused.
                    if attempt == 3 or "being accessed by other users" not in str(exc):
                        raise BenchError(f"could not copy {name} to {copy}: {exc}") from exc
                    await asyncio.sleep(5)
            seconds = time.monotonic() - started
    finally:
        await admin.dispose()
    copied = make_url(url).set(database=copy)
    return copied.render_as_string(hide_password=False), seconds


async def drop_database(url: str) -> None:
    """Drop a database made by `clone_database` (never the bench province itself)."""
    target = database_url(url)
    admin = _engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(f"DROP DATABASE IF EXISTS {_quoted(target.database or '')} WITH (FORCE)")
            )
    finally:
        await admin.dispose()


def migrate(url: str) -> None:
    """`handbook db upgrade head` against the bench database."""
    from app.core import migrate as migrations

    migrations.upgrade(url)


@dataclass(frozen=True, slots=True)
class Dataset:
    orgs: int
    branches: int
    members: int
    grants: int
    seeded_now: bool
    seed_seconds: float | None
    root_id: int
    root_path: str
    postgresql: str
    # Seconds this run spent building the statistics rollup of a province seeded without one
    # (`stats_rollup.missing`); None when it was there.
    rollup_seconds: float | None = None


async def _counts(engine: AsyncEngine) -> tuple[int, int, int, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    select(func.count()).select_from(_org).scalar_subquery(),
                    select(func.count())
                    .select_from(_org)
                    .where(_org.c.kind == OrgKind.BRANCH.value)
                    .scalar_subquery(),
                    select(func.count()).select_from(_member).scalar_subquery(),
                    select(func.count()).select_from(_grant).scalar_subquery(),
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def prepare(
    url: str,
    *,
    members: int,
    progress: Callable[[str], None] | None = None,
    rollup: bool = False,
) -> Dataset:
    """Seed the province unless it is there already (progress reported as it goes; seeding
    builds the statistics rollup). With `rollup`, a province seeded before the rollup existed
    (or in an earlier month) gets it now: one run of the worker's `stats.rollup` job, done only
    when the running month's rollup is missing, so repeated runs skip it."""
    from app.core.config import RulesSettings, WorkerSettings
    from app.core.db import Database
    from app.services import stats_rollup
    from app.services.seed import build_rollup, seed_generated

    engine = _engine(database_url(url))
    try:
        orgs, branches, member_count, grants = await _counts(engine)
        seeded_now, seed_seconds = False, None
        if orgs == 0 and member_count == 0:
            started = time.monotonic()
            await seed_generated(engine, members=members, progress=progress)
            seed_seconds = time.monotonic() - started
            seeded_now = True
            orgs, branches, member_count, grants = await _counts(engine)
        elif member_count != members:
            raise BenchError(
                f"{safe_url(url)} holds {member_count:,} members, not {members:,}: "
                "run with --reset to rebuild it"
            )
        rollup_seconds: float | None = None
        rules = RulesSettings()
        if rollup and await stats_rollup.missing(Database.over(engine), rules, now=utcnow()):
            started = time.monotonic()
            await build_rollup(engine, rules, WorkerSettings(), progress)
            rollup_seconds = time.monotonic() - started
        async with engine.begin() as conn:
            await conn.execute(delete(_session).where(_session.c.method == SESSION_METHOD))
            root = (
                await conn.execute(
                    select(_org.c.id, _org.c.path)
                    .where(_org.c.parent_id.is_(None))
                    .order_by(_org.c.id)
                    .limit(1)
                )
            ).one()
            version = await conn.scalar(text("SHOW server_version"))
        return Dataset(
            orgs=orgs,
            branches=branches,
            members=member_count,
            grants=grants,
            seeded_now=seeded_now,
            seed_seconds=seed_seconds,
            root_id=int(root[0]),
            root_path=str(root[1]),
            postgresql=str(version),
            rollup_seconds=rollup_seconds,
        )
    finally:
        await engine.dispose()


async def open_session(url: str, member_id: int) -> str:
    """A live login session for the member (what a login creates); returns its id."""
    now = utcnow()
    session_id = new_id()
    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(_session).values(
                    id=session_id,
                    member_id=member_id,
                    method=SESSION_METHOD,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
    finally:
        await engine.dispose()
    return session_id


async def close_sessions(url: str) -> None:
    """Remove the session rows the benchmark created."""
    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(_session).where(_session.c.method == SESSION_METHOD))
    finally:
        await engine.dispose()


class TokenMinter:
    """Access tokens signed with the server's secret, exactly as the login endpoints issue them."""

    def __init__(self, secret: str) -> None:
        settings = AuthSettings(secret_key=SecretStr(secret), access_ttl_s=ACCESS_TTL_S)
        self._codec = TokenCodec(settings)

    def mint(self, member_id: int, session_id: str) -> str:
        return self._codec.issue_access(member_id=member_id, session_id=session_id, now=utcnow())


async def pick_personas(url: str, keys: list[str], count: int) -> dict[str, list[Pick]]:
    """Members for each persona (`parts.PERSONAS`), `count` each where the province has them."""
    from app.bench.parts import PERSONAS

    engine = _engine(database_url(url))
    picked: dict[str, list[Pick]] = {}
    try:
        async with engine.connect() as conn:
            for key in keys:
                picks = await PERSONAS[key].pick(conn, count)
                if not picks:
                    raise BenchError(f"the province has no {PERSONAS[key].description}")
                picked[key] = picks
    finally:
        await engine.dispose()
    return picked


async def open_sessions(url: str, member_ids: list[int]) -> dict[int, str]:
    """A live login session for each member; {member_id: session_id}."""
    now = utcnow()
    sessions = {member_id: new_id() for member_id in dict.fromkeys(member_ids)}
    if not sessions:
        return sessions
    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(_session),
                [
                    {
                        "id": session_id,
                        "member_id": member_id,
                        "method": SESSION_METHOD,
                        "created_at": now,
                        "last_used_at": now,
                        "expires_at": now + timedelta(days=1),
                    }
                    for member_id, session_id in sessions.items()
                ],
            )
    finally:
        await engine.dispose()
    return sessions


INBOX_SIZE = 40  # notifications in each inbox persona's inbox, a quarter unread
LOGIN_PASSWORD = "Bench@2026-logins"  # noqa: S105 - the bench database's login pool only


async def fill_inboxes(url: str, member_ids: list[int]) -> int:
    """`INBOX_SIZE` notifications for each member whose inbox is empty (the inbox read)."""
    from app.models import Notification
    from app.models.notification import NoticeKind

    kinds = [NoticeKind.GENERAL, NoticeKind.MEETING_REMINDER, NoticeKind.DOCUMENT]

    table = cast(Table, Notification.__table__)
    now = utcnow()
    engine = _engine(database_url(url))
    written = 0
    try:
        async with engine.begin() as conn:
            for member_id in dict.fromkeys(member_ids):
                have = await conn.scalar(
                    select(func.count()).select_from(table).where(table.c.member_id == member_id)
                )
                if have:
                    continue
                rows = [
                    {
                        "member_id": member_id,
                        "notice_id": None,
                        "kind": kinds[n % len(kinds)].value,
                        "title": f"Thông báo số {n + 1} của chi bộ",
                        "body": "Kính mời đồng chí tham dự sinh hoạt chi bộ định kỳ tháng này.",
                        "data": {"notice": str(n + 1)},
                        "created_at": now - timedelta(hours=n),
                        "read_at": None if n < INBOX_SIZE // 4 else now,
                    }
                    for n in range(INBOX_SIZE)
                ]
                await conn.execute(insert(table), rows)
                written += len(rows)
    finally:
        await engine.dispose()
    return written


async def login_pool(url: str, size: int) -> list[str]:
    """`size` members with a phone and the bench password (set once, one hash for all); their
    phones, distinct. Their earlier login sessions are removed so every login starts clean."""
    from app.core.security import PasswordHasher

    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(_member.c.id, _member.c.phone)
                    .where(
                        _member.c.phone.is_not(None),
                        _member.c.is_locked.is_(False),
                        _member.c.id.not_in(select(_grant.c.member_id)),
                    )
                    .order_by(_member.c.id.desc())
                    .limit(size)
                )
            ).all()
            ids = [int(r[0]) for r in rows]
            hashed = await PasswordHasher(AuthSettings()).hash(LOGIN_PASSWORD)
            await conn.execute(
                _member.update()
                .where(_member.c.id.in_(ids), _member.c.password_hash.is_(None))
                .values(password_hash=hashed, password_changed_at=utcnow())
            )
            await conn.execute(delete(_session).where(_session.c.member_id.in_(ids)))
    finally:
        await engine.dispose()
    return [str(r[1]) for r in rows]


# --- write bursts (`parts.Burst`, `bursts.BurstKind`) ----------------------------------------


async def burst_prepare(url: str, kind: BurstKind, count: int) -> Batch:
    """Fresh targets for one burst of `count` writes, committed before it is sent."""
    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            return await kind.prepare(conn, count)
    finally:
        await engine.dispose()


async def burst_check(url: str, kind: BurstKind, batch: Batch) -> Check:
    """What the database holds after the burst."""
    engine = _engine(database_url(url))
    try:
        async with engine.connect() as conn:
            return await kind.check(conn, batch)
    finally:
        await engine.dispose()


async def burst_cleanup(url: str, kind: BurstKind) -> int:
    """Remove every object the bursts made (this run's, or a crashed run's)."""
    engine = _engine(database_url(url))
    try:
        async with engine.begin() as conn:
            return await kind.cleanup(conn)
    finally:
        await engine.dispose()
