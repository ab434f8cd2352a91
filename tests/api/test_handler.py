"""The planned request handler (`app.api.handler`) answers as FastAPI's own does: the same
routes on a `HandbookRoute` router and on a stock `APIRoute` router, request by request."""

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import (
    APIRouter,
    Body,
    Cookie,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Response,
)
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from app.api.handler import Plan
from app.api.router import add_routes
from app.api.routing import HandbookRoute, IndexedRouter
from app.core.config import Settings
from app.main import create_app


class Tone(StrEnum):
    CALM = "calm"
    LOUD = "loud"


class Item(BaseModel):
    id: int
    name: str
    note: str | None = None


def _build(route_class: type[APIRoute]) -> tuple[FastAPI, list[str]]:
    """A small app whose routes use what the product's do; `events` records calls and
    clean-ups in order."""
    events: list[str] = []
    router = APIRouter(route_class=route_class)
    bearer = HTTPBearer(auto_error=False)

    async def base(request_id: Annotated[str | None, Header()] = None) -> str:
        events.append("base")
        return request_id or "-"

    async def needs_base(value: Annotated[str, Depends(base)]) -> str:
        events.append("needs_base")
        return value.upper()

    def sync_dep(flag: Annotated[bool, Query()] = False) -> bool:
        events.append("sync")
        return flag

    async def unit() -> AsyncIterator[str]:
        events.append("unit:open")
        try:
            yield "unit"
        finally:
            events.append("unit:close")

    async def actor(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None:
            raise HTTPException(401, "no token")
        return credentials.credentials

    async def stamps(response: Response) -> None:
        response.headers["x-stamp"] = "1"
        response.status_code = 203

    @router.get("/items/{item_id}", response_model=Item)
    async def get_item(
        item_id: Annotated[int, Path(ge=1, le=1000)],
        a: Annotated[str, Depends(base)],
        b: Annotated[str, Depends(needs_base)],
        flag: Annotated[bool, Depends(sync_dep)],
        u: Annotated[str, Depends(unit, scope="function")],
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
        cursor: Annotated[str | None, Query(max_length=10)] = None,
        tags: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        events.append("endpoint")
        note = f"{a}/{b}/{flag}/{u}/{limit}/{cursor}/{tags}"
        return {"id": item_id, "name": "x", "note": note, "secret": "dropped"}

    @router.get("/guarded")
    async def guarded(
        who: Annotated[str, Depends(actor)], limit: Annotated[int, Query(ge=1)] = 1
    ) -> dict[str, Any]:
        return {"who": who, "limit": limit}

    @router.get("/stamped", response_model=Item, dependencies=[Depends(stamps)])
    async def stamped(response: Response) -> Item:
        response.headers["x-endpoint"] = "yes"
        return Item(id=1, name="s")

    @router.get("/raw")
    async def raw(limit: int = 3) -> Response:
        return Response(b'{"raw":true}', media_type="application/json", headers={"x-r": "1"})

    @router.post("/created", status_code=201, response_model=Item, response_model_exclude_none=True)
    async def created() -> Item:
        return Item(id=2, name="c")

    @router.delete("/gone", status_code=204)
    async def gone() -> None:
        events.append("gone")

    @router.get("/params/{code}")
    async def params(
        code: Annotated[str, Path(pattern="^[a-z]+$")],
        x_token: Annotated[str, Header()],
        page_size: Annotated[int, Query(alias="page-size", ge=1)] = 10,
        ids: Annotated[list[int], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        theme: Annotated[str | None, Cookie()] = None,
        flag: Annotated[bool, Query()] = False,
        # An absent parameter whose default is validated (made an int) and an enum's default.
        level: Annotated[int, Query(validate_default=True)] = "7",  # type: ignore[assignment]
        tone: Annotated[Tone, Query()] = Tone.CALM,
    ) -> dict[str, Any]:
        return {
            "code": code,
            "token": x_token,
            "size": page_size,
            "ids": ids,
            "theme": theme,
            "level": level,
            "tone": tone,
        }

    @router.get("/text", response_class=PlainTextResponse)
    async def text() -> str:
        return "plain"

    @router.get("/fails")
    async def fails(u: Annotated[str, Depends(unit, scope="function")]) -> None:
        raise HTTPException(409, "conflict")

    # Request bodies: one model, fields embedded beside a dependency's own body field.
    @router.post("/things", status_code=201, response_model=Item)
    async def make_thing(item: Item, a: Annotated[str, Depends(base)]) -> Item:
        events.append(f"make:{a}")
        return item

    async def with_note(note: Annotated[str, Body(max_length=5)] = "-") -> str:
        events.append("note")
        return note

    @router.put("/pairs/{pair_id}")
    async def put_pair(
        pair_id: int,
        item: Item,
        count: Annotated[int, Body(ge=1)],
        note: Annotated[str, Depends(with_note)],
        who: Annotated[str, Depends(actor)],
    ) -> dict[str, Any]:
        return {"pair": pair_id, "item": item.model_dump(), "count": count, "note": note}

    app = FastAPI()
    add_routes(app.router, router, prefix="")
    return app, events


REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/items/7?flag=true&limit=5&cursor=abc&tags=a&tags=b", {"request-id": "r1"}),
    ("GET", "/items/7", {}),
    ("GET", "/items/0?limit=0&cursor=far-too-long-a-cursor", {}),  # three errors at once
    ("GET", "/items/x?flag=maybe", {}),
    ("GET", "/guarded?limit=0", {}),  # the dependency's 401 comes before the query's 422
    ("GET", "/guarded?limit=0", {"authorization": "Bearer t"}),
    ("GET", "/guarded?limit=2", {"authorization": "Bearer t"}),
    ("GET", "/stamped", {}),
    ("GET", "/raw?limit=nope", {}),
    ("GET", "/raw", {}),
    ("POST", "/created", {}),
    ("DELETE", "/gone", {}),
    ("GET", "/text", {}),
    ("GET", "/params/abc?page-size=3&ids=1&ids=2&flag=1", {"x-token": "t", "cookie": "theme=dark"}),
    ("GET", "/params/abc?level=3&tone=loud", {"x-token": "t"}),
    ("GET", "/params/abc?page_size=3", {"x-token": "t"}),  # not the alias: the default
    ("GET", "/params/ABC?page-size=0&ids=x&flag=2", {}),  # every parameter wrong or missing
    ("GET", "/params/abc?ids=", {"x_token": "t"}),
    ("GET", "/fails", {}),
]
JSON = {"content-type": "application/json"}
# (method, url, headers, body bytes): the body routes' answers, good and bad.
BODY_REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", "/things", JSON, b'{"id": 1, "name": "t"}'),
    ("POST", "/things", {"content-type": "application/vnd.x+json"}, b'{"id": 1, "name": "t"}'),
    ("POST", "/things", JSON, b'{"id": "x"}'),  # two errors
    ("POST", "/things", JSON, b'{"id": 1,'),  # not JSON
    ("POST", "/things", JSON, b""),  # no body
    ("POST", "/things", {}, b'{"id": 1, "name": "t"}'),  # no content type (strict: refused)
    ("POST", "/things", {"content-type": "text/plain"}, b'{"id": 1, "name": "t"}'),
    ("POST", "/things", JSON, b"[1, 2]"),
    (
        "PUT",
        "/pairs/3",
        {**JSON, "authorization": "Bearer t"},
        b'{"item": {"id": 2, "name": "p"}, "count": 2, "note": "hi"}',
    ),
    (
        "PUT",
        "/pairs/3",
        {**JSON, "authorization": "Bearer t"},
        b'{"item": {"id": 2, "name": "p"}, "count": 2}',
    ),
    (
        "PUT",
        "/pairs/x",
        {**JSON, "authorization": "Bearer t"},
        b'{"item": {}, "count": 0, "note": "too long"}',
    ),
    ("PUT", "/pairs/3", JSON, b'{"item": {"id": 2, "name": "p"}, "count": 2}'),  # 401 first
    ("PUT", "/pairs/3", JSON, b"{oops"),  # the body is read before any dependency runs
]


async def _answers(route_class: type[APIRoute]) -> list[tuple[Any, ...]]:
    app, events = _build(route_class)
    answers = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, url, headers, content in [
            *((m, u, h, None) for m, u, h in REQUESTS),
            *BODY_REQUESTS,
        ]:
            events.clear()
            response = await client.request(method, url, headers=headers, content=content)
            kept = sorted((k, v) for k, v in response.headers.items() if k != "date")
            answers.append((method, url, response.status_code, kept, response.content, events[:]))
    return answers


async def test_planned_handler_answers_as_fastapis() -> None:
    planned = await _answers(HandbookRoute)
    stock = await _answers(APIRoute)
    assert planned == stock
    statuses = [answer[2] for answer in planned]
    # The requests reach every branch: success, 422, 401, a sub-response, 201, 204, a raise.
    assert {200, 201, 203, 204, 401, 409, 422} <= set(statuses), statuses


def test_the_test_routes_are_planned() -> None:
    """The parity test above compares the plan, not a fallback."""
    app, _ = _build(HandbookRoute)
    routes = [r for r in app.router.routes if isinstance(r, HandbookRoute)]
    assert routes
    plans = [Plan.of(r.dependant) for r in routes]
    assert all(plan is not None for plan in plans)
    # Every parameter is read by the plan itself (`_Param`), none by FastAPI's helper.
    groups = [group for plan in plans if plan is not None for group in _all_params(plan)]
    assert groups
    assert all(isinstance(fields, tuple) for _, fields in groups)


def _all_params(plan: Plan) -> list[tuple[Any, Any]]:
    return [*plan.params, *(g for step in plan.steps for g in _all_params(step.plan))]


def test_every_route_is_planned(settings: Settings) -> None:
    """A dependency the plan does not cover would put a route back on FastAPI's solver
    silently (`api.handler`): the product's routes stay planned, writes with a JSON body too."""
    app = create_app(settings)
    assert isinstance(app.router, IndexedRouter)
    routes = [r for r in app.router.routes if isinstance(r, HandbookRoute)]
    assert len(routes) > 150
    assert sum(1 for r in routes if r.body_field is not None) > 40
    unplanned = [r.name for r in routes if Plan.of(r.dependant) is None]
    # `BackgroundTasks` (the OTP's SMS sent after the answer) is FastAPI's to solve.
    assert sorted(unplanned) == ["request_otp", "request_phone_change_code"]


@pytest.mark.parametrize("method", ["GET"])
async def test_overrides_use_fastapis_solver(method: str) -> None:
    """While `dependency_overrides` holds anything, the request takes FastAPI's handler, which
    applies them."""
    app, _ = _build(HandbookRoute)
    actor_dep = next(
        d.call
        for r in app.router.routes
        if isinstance(r, HandbookRoute) and r.name == "guarded"
        for d in r.dependant.dependencies
    )

    async def fixed() -> str:
        return "override"

    assert actor_dep is not None
    app.dependency_overrides[actor_dep] = fixed
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.request(method, "/guarded")
    assert response.status_code == 200
    assert response.json() == {"who": "override", "limit": 1}
