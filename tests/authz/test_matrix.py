"""The authorization matrix: every route × every role × three targets, exact status and code.

See tests/authz/harness.py for the vocabulary. Adding a route to the app without a row here
fails `test_every_route_has_a_row`, whether or not the route is in the OpenAPI document.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.api.routing import area_router
from app.main import create_app
from app.models import Role, RoleGrant
from app.resources import Resources
from tests import authz
from tests.authz.harness import ROLES, TARGETS, Context, Row
from tests.conftest import ActorLogin, make_settings
from tests.factories import Tree, grant

pytestmark = pytest.mark.authz

# Routes that are not operations of the API: the live contract and its viewer.
NOT_OPERATIONS = frozenset(
    {"/openapi.json", "/docs", "/docs/assets", "/docs/oauth2-redirect", "/redoc"}
)


Setup = Callable[[Context, AsyncSession, Resources], Awaitable[None]]


def _load_rows() -> tuple[dict[str, Row], list[Setup]]:
    rows: dict[str, Row] = {}
    setups: list[Setup] = []
    for module_info in pkgutil.iter_modules(authz.__path__):
        if module_info.name == "harness" or module_info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"tests.authz.{module_info.name}")
        for name, row in module.ROWS.items():
            assert name not in rows, f"{name} has rows in two area files"
            rows[name] = row
        if hasattr(module, "setup"):
            setups.append(module.setup)
    return rows, setups


MATRIX, SETUPS = _load_rows()


def route_names(app: FastAPI) -> dict[str, str]:
    """Every route of the app (method and path, hidden and websocket routes included), by name."""
    names: dict[str, str] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            names[route.name] = f"{sorted(route.methods or ())} {context.path}"
        elif isinstance(route, APIWebSocketRoute):
            names[route.name] = f"WEBSOCKET {context.path}"
        else:
            assert context.path in NOT_OPERATIONS, f"unexpected route {context.path}: add a row"
    return names


def test_every_route_has_a_row(app: FastAPI) -> None:
    names = route_names(app)
    missing = sorted(f"{name} ({where})" for name, where in names.items() if name not in MATRIX)
    stale = sorted(MATRIX.keys() - names.keys())
    assert not missing, f"add these routes to the authorization matrix (tests/authz/): {missing}"
    assert not stale, f"these matrix rows match no route: {stale}"


def test_every_row_states_every_role() -> None:
    for operation, row in MATRIX.items():
        assert set(row.expect) == set(ROLES), operation
        for role in ROLES:
            assert len(row.cells(role)) == len(TARGETS), (operation, role)


@pytest.fixture
async def context(tree: Tree, session: AsyncSession, resources: Resources) -> Context:
    own = await session.scalar(select(RoleGrant.id).where(RoleGrant.member_id == tree.secretary.id))
    near = await grant(session, tree.teacher, tree.b3, Role.COMMITTEE_MEMBER)
    far = await grant(session, tree.outsider, tree.b4, Role.SECRETARY)
    assert own is not None
    ctx = Context(tree=tree, grants={"own": own, "near": near.id, "far": far.id})
    for setup in SETUPS:
        await setup(ctx, session, resources)
    await session.commit()
    return ctx


@pytest.mark.parametrize("operation", sorted(MATRIX))
async def test_authorization(
    client: httpx.AsyncClient,
    context: Context,
    as_actor: ActorLogin,
    connection: AsyncConnection,
    operation: str,
) -> None:
    """Every role in turn, each inside a savepoint rolled back afterwards: the tree and the
    area objects are built once per operation, and no role sees another's changes."""
    row = MATRIX[operation]
    failures: list[str] = []
    for role in ROLES:
        savepoint = await connection.begin_nested()
        try:
            failures += await _act(client, context, as_actor, operation, role, row)
        finally:
            await savepoint.rollback()
    assert not failures, "\n".join(failures)


async def _act(
    client: httpx.AsyncClient,
    context: Context,
    as_actor: ActorLogin,
    operation: str,
    role: str,
    row: Row,
) -> list[str]:
    failures = []
    for target, expected in zip(TARGETS, row.cells(role), strict=True):
        # A fresh login per call: a logout on one target must not decide the next.
        headers = {} if role == "anonymous" else await as_actor(getattr(context.tree, role).id)
        call = row.build(context, target)
        response = await client.request(
            call.method,
            call.url,
            json=call.json,
            content=call.content,
            headers={**headers, **call.headers},
        )
        got = response.status_code
        code = response.json().get("code") if got >= 400 and response.content else None
        problem = response.headers.get("content-type") == "application/problem+json"
        if got != expected.status or (
            expected.code is not None and (code != expected.code or not problem)
        ):
            want = f"{expected.status} {expected.code or ''}".strip()
            failures.append(
                f"{operation} as {role} on the {target} target: expected {want}, "
                f"got {got} {code or ''}: {response.text[:200]}"
            )
    return failures


def test_the_gate_sees_hidden_and_websocket_routes() -> None:
    app = create_app(make_settings())
    router = area_router()

    @router.get("/hidden-thing", include_in_schema=False)
    async def hidden_thing() -> None:
        return None

    @router.websocket("/live-thing")
    async def live_thing(websocket: WebSocket) -> None:
        await websocket.close()

    app.include_router(router, prefix="/api/v1")
    names = route_names(app)
    assert names["hidden_thing"] == "['GET'] /api/v1/hidden-thing"
    assert names["live_thing"] == "WEBSOCKET /api/v1/live-thing"
