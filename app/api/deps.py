"""Request dependencies: the process's resources, the unit of work, the actor and the guards.

- `SessionDep`: one session per request, committed once before the response is sent
  (`scope="function"`), rolled back on any error unless the error asks to keep its changes.
  Safe methods get the read sessionmaker: it refuses to write, and on PostgreSQL it runs in
  AUTOCOMMIT (no BEGIN/ROLLBACK round trips).
- `LeanUnitDep`: the lean unit of work of the hottest writes (compiled statements in one
  transaction, on PostgreSQL on an asyncpg pool of its own); framed as `SessionDep` is.
- `ReaderDep`: the lean read path (compiled Core statements on their own asyncpg pool).
- `CurrentActor`: the bearer token's member, loaded with their live roles in one query.
  `HomeActor` and `ActorWith(extend)` read what a `/me` route shows in that same query.
- `ObjectScope(load_target, permission, ...)`: the one guard shape. It resolves the id in the
  path, loads the object's `Target` on the lean path, lets `services.access.authorize` decide,
  and hands the handler the typed target. Out of every scope → 404; visible but not permitted →
  403 `scope.forbidden`. `OrgScope`, `MemberScope` and `GrantScope` are its instances.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.responses import DEPENDENCY_CODES, raises
from app.api.routing import UNIT_OF_WORK_MARK
from app.core.cache import TTLCache
from app.core.db import LeanUnit, Reader, Row, SessionQueries, Statements
from app.core.errors import AppError, NotFound, Unauthorized
from app.core.security import AccessClaims, InvalidToken
from app.models.base import utcnow
from app.resources import Resources
from app.schemas.common import MAX_ID, Digits
from app.services import access
from app.services import history as history_service
from app.services import idempotency as idempotency_service
from app.services import members as member_service
from app.services import orgs as org_service
from app.services import roles as role_service
from app.services.access import Actor, Permission, Target
from app.services.auth import actor as actor_service
from app.services.auth.actor import ActorRows
from app.services.auth.common import ClientInfo
from app.services.members import MemberTarget
from app.services.orgs import OrgTarget
from app.services.points import local_year

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a route adds to the actor's query (`ActorWith`, `JoinedTarget`).
Extension = Callable[[Select[Any]], Select[Any]]


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def _resources(request: Request) -> Resources:
    return get_resources(request)


async def _reader(request: Request) -> Reader:
    return get_resources(request).reader


ResourcesDep = Annotated[Resources, Depends(_resources)]
ReaderDep = Annotated[Reader, Depends(_reader)]


async def _finish(request: Request, tx: Statements) -> None:
    """Before the commit: the answer a retry must get, stored with the write."""
    claim = getattr(request.state, "idempotency", None)
    if claim is not None:
        await idempotency_service.complete(tx, claim)


async def _failed(request: Request, exc: BaseException, tx: Statements) -> bool:
    """Whether a failed request still commits (an `AppError` that keeps its changes: a counted
    wrong password): then without its idempotency claim, so the key may be used again."""
    if not (isinstance(exc, AppError) and exc.keep_changes):
        return False
    claim = getattr(request.state, "idempotency", None)
    if claim is not None:
        await idempotency_service.release(tx, claim)
    return True


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db = get_resources(request).db
    maker = db.read if request.method in SAFE_METHODS else db.write
    async with maker() as session:
        tx = SessionQueries(session)
        request.state.unit_of_work = tx
        try:
            yield session
            await _finish(request, tx)
            await session.commit()
        except BaseException as exc:
            if await _failed(request, exc, tx):
                await session.commit()
            else:
                await session.rollback()
            raise


setattr(get_session, UNIT_OF_WORK_MARK, True)
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_lean_unit(request: Request) -> AsyncIterator[LeanUnit]:
    """The lean unit of work (`core.db.Writer`): compiled statements in one transaction, on
    PostgreSQL straight on an asyncpg pool, committed once before the response leaves, rolled
    back on any error; the same framing as `get_session` (the idempotency claim first, the stored
    answer last). For the hottest writes (the meeting-night check-in, the quiz submit), whose
    services run `FastQuery` statements on `Statements`."""
    async with get_resources(request).writer.unit() as unit:
        request.state.unit_of_work = unit
        try:
            yield unit
            await _finish(request, unit)
            await unit.commit()
        except BaseException as exc:
            if await _failed(request, exc, unit):
                await unit.commit()
            else:
                await unit.rollback()
            raise


setattr(get_lean_unit, UNIT_OF_WORK_MARK, True)
LeanUnitDep = Annotated[LeanUnit, Depends(get_lean_unit, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from a login endpoint.")


def _claims(resources: Resources, credentials: HTTPAuthorizationCredentials | None) -> AccessClaims:
    if credentials is None:
        raise Unauthorized()
    try:
        return resources.auth.codec.decode_access(credentials.credentials)
    except InvalidToken as exc:
        if exc.reason == "expired":
            raise Unauthorized("Phiên đăng nhập đã hết hạn.", code="auth.token_expired") from exc
        raise Unauthorized("Mã truy cập không hợp lệ.", code="auth.token_invalid") from exc


# What every route behind a login can answer with 401 (`_claims`, then the actor's row).
ACTOR_PROBLEMS = {
    401: [
        "auth.unauthenticated",
        "auth.token_expired",
        "auth.token_invalid",
        "auth.session_revoked",
        "auth.session_expired",
        "auth.account_locked",
    ]
}


@raises(ACTOR_PROBLEMS)
async def get_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The member behind the bearer token, checked against the database on every request (so a
    lock, a logout or a revoked role counts at once): one query on the lean read path."""
    joined = getattr(request.state, "actor", None)  # read with a guard's target (`JoinedTarget`)
    if joined is not None:
        return joined  # type: ignore[no-any-return]
    resources = get_resources(request)
    return await actor_service.load_actor(resources.reader, _claims(resources, credentials))


CurrentActor = Annotated[Actor, Depends(get_actor)]


@raises(ACTOR_PROBLEMS)
async def get_home_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Actor, Row]:
    """`CurrentActor` with what the home screen shows, in the same query (`/me/home`)."""
    resources = get_resources(request)
    year = local_year(utcnow(), resources.settings.rules.timezone)
    return await actor_service.load_home(
        resources.reader, _claims(resources, credentials), year=year
    )


HomeActor = Annotated[tuple[Actor, Row], Depends(get_home_actor)]


class ActorWith:
    """`CurrentActor` with the route's own read in the same query, as `/me/home` does: `extend`
    (a service's function) adds its joins and columns to the actor query
    (`actor_service.extended`), `params(request)` binds what they need. The handler gets an
    `ActorRows`; when it validated a parameter itself (the `year` of the query string), it
    checks that the read was bound to the same value."""

    def __init__(
        self,
        extend: Extension,
        params: Callable[[Request], Mapping[str, object]] | None = None,
    ) -> None:
        self.query = actor_service.extended(extend)
        self.params = params
        setattr(self, DEPENDENCY_CODES, {status: tuple(c) for status, c in ACTOR_PROBLEMS.items()})

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ActorRows:
        resources = get_resources(request)
        params = self.params(request) if self.params is not None else {}
        return await actor_service.load_extended(
            resources.reader, self.query, _claims(resources, credentials), params
        )


async def get_client(request: Request) -> ClientInfo:
    host = request.client.host if request.client else "unknown"
    return ClientInfo(ip=host, user_agent=request.headers.get("user-agent"))


ClientDep = Annotated[ClientInfo, Depends(get_client)]


async def get_today(request: Request) -> date:
    """Today in the deployment's calendar (`RULES__TIMEZONE`): the day changes take effect."""
    return history_service.local_today(get_resources(request).settings.rules.timezone)


TodayDep = Annotated[date, Depends(get_today)]


# --- the object guard -----------------------------------------------------------------------------

T = TypeVar("T", bound=Target)


@dataclass(frozen=True, slots=True)
class JoinedTarget(Generic[T]):
    """A guard's target read in the actor's own query (one round trip for both, as `ActorWith`
    does for `/me` reads): `extend` adds the object's joins and labelled columns to the actor
    query, on `actor_service.TARGET_ID` (the path's id); `target(row)` builds the `Target` from
    a row, `None` when the object does not exist."""

    extend: Extension
    target: Callable[[Row], T | None]


_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class ObjectScope(Generic[T]):
    """Guard for routes with an object id in the path (`{member_id}`, `{meeting_id}` …).

    `load_target(reader, id)` reads what the decision needs (the object's org path, its owner)
    on the lean path; `cache` optionally keeps targets per process (org paths). The decision
    itself is `access.authorize`: area rules belong there or in the service, never here.
    `visible(actor, target)`, when given, is the area's rule for objects that do not exist yet
    for most callers (drafts): it raises the 404 before the scope is decided.
    `joined`, when given, reads the target in the actor's own query instead (a hot write's guard:
    one round trip for both); the actor read so is the request's `CurrentActor` too.
    Objects named in a body (a parent org) are checked with `await guard.check(...)`.
    """

    def __init__(
        self,
        load_target: Callable[[Reader, int], Awaitable[T | None]],
        permission: Permission,
        *,
        id_param: str,
        not_found_code: str,
        description: str,
        upward: bool = False,
        ancestors_visible: bool = False,
        cache: Callable[[Resources], TTLCache[int, T]] | None = None,
        visible: Callable[[Actor, T], None] | None = None,
        joined: JoinedTarget[T] | None = None,
    ) -> None:
        self.load_target = load_target
        self.visible = visible
        self.permission = permission
        self.id_param = id_param
        self.not_found_code = not_found_code
        self.upward = upward
        self.ancestors_visible = ancestors_visible
        self.cache = cache
        self.joined = joined
        self._joined_query = None if joined is None else actor_service.extended(joined.extend)
        # Documented on every route using the guard (see app.api.responses).
        codes: dict[int, tuple[str, ...]] = {404: (not_found_code,), 403: ("scope.forbidden",)}
        if joined is not None:
            codes[401] = tuple(ACTOR_PROBLEMS[401])
        setattr(self, DEPENDENCY_CODES, codes)
        # Plain digits only: `/members/1.0`, `/members/+1` are not member 1.
        id_type = Annotated[int, Path(ge=1, le=MAX_ID, description=description), Digits]
        # FastAPI reads a dependency's parameters from its signature: the path id under its
        # route's name, the actor (or, joined, the bearer token the actor is read from), the
        # request.
        who = (
            inspect.Parameter("actor", inspect.Parameter.KEYWORD_ONLY, annotation=CurrentActor)
            if joined is None
            else inspect.Parameter(
                "credentials", inspect.Parameter.KEYWORD_ONLY, annotation=_Credentials
            )
        )
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(id_param, inspect.Parameter.KEYWORD_ONLY, annotation=id_type),
                who,
                inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            ]
        )

    async def __call__(
        self,
        *,
        request: Request,
        actor: Actor | None = None,
        credentials: HTTPAuthorizationCredentials | None = None,
        **ids: int,
    ) -> T:
        resources = get_resources(request)
        if actor is not None or self._joined_query is None or self.joined is None:
            assert actor is not None  # noqa: S101 - the signature asks for it when not joined
            return await self.check(resources, actor, ids[self.id_param])
        loaded = await actor_service.load_extended(
            resources.reader,
            self._joined_query,
            _claims(resources, credentials),
            {actor_service.TARGET_ID: ids[self.id_param]},
        )
        request.state.actor = loaded.actor
        target = self.joined.target(loaded.rows[0])
        if target is None:
            raise NotFound(code=self.not_found_code)
        self.decide(loaded.actor, target)
        return target

    async def check(self, resources: Resources, actor: Actor, object_id: int) -> T:
        cache = self.cache(resources) if self.cache is not None else None
        target = cache.get(object_id) if cache is not None else None
        if target is None:
            target = await self.load_target(resources.reader, object_id)
            if target is None:
                raise NotFound(code=self.not_found_code)
            if cache is not None:
                cache.put(object_id, target)
        self.decide(actor, target)
        return target

    def decide(self, actor: Actor, target: T) -> None:
        """The guard's decision on a loaded target: returns when the actor may act on it, else
        raises its 404 or 403 (also what the fuzz run's expectations are derived from)."""
        if self.visible is not None:
            self.visible(actor, target)
        access.authorize(
            actor,
            self.permission,
            target,
            not_found_code=self.not_found_code,
            upward=self.upward,
            ancestors_visible=self.ancestors_visible,
        )


def _org_cache(resources: Resources) -> TTLCache[int, OrgTarget]:
    return resources.org_targets


def OrgScope(permission: Permission, *, upward: bool = False) -> ObjectScope[OrgTarget]:
    """`{org_id}`: orgs above one's own can be read, so they answer 403 rather than 404."""
    return ObjectScope(
        org_service.load_target,
        permission,
        id_param="org_id",
        not_found_code="org.not_found",
        description="Org id.",
        upward=upward,
        ancestors_visible=True,
        cache=_org_cache,
    )


def MemberScope(permission: Permission) -> ObjectScope[MemberTarget]:
    """`{member_id}`: checked against the member's branch; members may read their own record."""
    return ObjectScope(
        member_service.load_target,
        permission,
        id_param="member_id",
        not_found_code="member.not_found",
        description="Member id.",
    )


GrantScope = ObjectScope(
    role_service.load_target,
    Permission.ROLE_MANAGE,
    id_param="grant_id",
    not_found_code="role.not_found",
    description="Role grant id.",
)
