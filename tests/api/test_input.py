"""Hostile and sloppy input at the edge: names are NFC text with something visible in them, and
request bodies are parsed strictly (dates only as ISO strings, integers only as integers,
booleans only as booleans). Refused input is a 422 and changes nothing."""

from __future__ import annotations

import importlib
import pkgutil
import unicodedata
from typing import Annotated, Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import app.schemas
from app.models import Member, Org
from app.schemas.common import StrictModel
from tests.conftest import ActorLogin
from tests.factories import Tree
from tests.http import assert_problem

# --- names ----------------------------------------------------------------------------------------

BAD_NAMES = {
    "zero-width spaces only": "\u200b\u200b\u200b",
    "hangul fillers only": "\u3164\u3164",
    "braille blanks only": "\u2800\u2800\u2800",
    "soft hyphens only": "\u00ad\u00ad",
    "combining marks only": "\u0301\u0301\u0301",
    "right-to-left override": "Nguyễn \u202eVăn An",
    "right-to-left isolate": "Nguyễn \u2067Văn\u2069 An",
    "left-to-right mark": "Nguyễn\u200e Văn An",
    "arabic letter mark": "Nguyễn\u061c Văn An",
    "zero-width space inside": "Nguyễn\u200bVăn An",
    "bell (C0)": "Nguyễn\x07Văn An",
    "escape (C0)": "Nguyễn \x1b[31mVăn An",
    "tab (C0)": "Nguyễn\tVăn An",
    "newline (C0)": "Nguyễn\nVăn An",
    "file separator (C0)": "Nguyễn\x1cVăn An",
    "next line (C1)": "Nguyễn\x85Văn An",
    "CSI (C1)": "Nguyễn\x9bVăn An",
    "delete": "Nguyễn\x7fVăn An",
    "private use": "Nguyễn \ue000 Văn",
    "digits only": "12345",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_member_names_without_visible_letters_or_with_controls_are_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    name: str,
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    before = await session.scalar(select(func.count()).select_from(Member))
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members", json={"full_name": name}, headers=headers
    )
    renamed = await client.patch(
        f"/api/v1/members/{tree.member.id}", json={"full_name": name}, headers=headers
    )
    for response in (created, renamed):
        assert_problem(response, 422, "request.invalid")
        assert response.json()["errors"][0]["loc"][-1] == "full_name"
    assert await session.scalar(select(func.count()).select_from(Member)) == before
    await session.refresh(tree.member)
    assert tree.member.full_name == "Nguyễn Văn An"


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
async def test_org_names_without_visible_letters_or_with_controls_are_refused(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, session: AsyncSession, name: str
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    before = await session.scalar(select(func.count()).select_from(Org))
    created = await client.post(
        "/api/v1/orgs",
        json={"parent_id": tree.c1.id, "name": name, "kind": "branch"},
        headers=headers,
    )
    renamed = await client.patch(f"/api/v1/orgs/{tree.b2.id}", json={"name": name}, headers=headers)
    assert [created.status_code, renamed.status_code] == [422, 422]
    assert await session.scalar(select(func.count()).select_from(Org)) == before


async def test_names_are_nfc_normalised_before_their_length_is_checked(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    # 255 characters composed; decomposed (as some keyboards and macOS send it) it is 510.
    composed = ("Nguyễn " * 37)[:254] + "A"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(composed) == 255 < len(decomposed)
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": decomposed},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == composed


@pytest.mark.parametrize(
    "name",
    ["Nguyễn Văn An", "Đặng  Thị\u00a0Ngọc", "H'Hen Niê", "Y-Moan Ênuôl", "Lê Văn Tám 2"],
)
async def test_real_names_are_accepted_and_stored_cleanly(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, name: str
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": name},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == " ".join(unicodedata.normalize("NFC", name).split())


# --- strict bodies --------------------------------------------------------------------------------

LOOSE_MEMBER_FIELDS = [
    {"joined_date": 0.0},
    {"joined_date": 0},
    {"joined_date": "0"},
    {"joined_date": "1700000000"},
    {"date_of_birth": "1990-01-01T00:00:00"},
    {"date_of_birth": "19900101"},
    {"official_date": True},
    {"is_exempt": "yes"},
    {"is_exempt": "true"},
    {"is_exempt": 1},
    {"is_exempt": 0.0},
]


@pytest.mark.parametrize("loose", LOOSE_MEMBER_FIELDS, ids=repr)
async def test_member_bodies_take_iso_dates_and_real_booleans_only(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    loose: dict[str, object],
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    before = await session.scalar(select(func.count()).select_from(Member))
    created = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={"full_name": "Nguyễn Văn Mới", **loose},
        headers=headers,
    )
    edited = await client.patch(f"/api/v1/members/{tree.member.id}", json=loose, headers=headers)
    for response in (created, edited):
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", *loose]
    assert await session.scalar(select(func.count()).select_from(Member)) == before
    await session.refresh(tree.member)
    assert tree.member.joined_date is None
    assert tree.member.is_exempt is False


async def test_member_bodies_still_take_iso_dates_and_booleans(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/members",
        json={
            "full_name": "Nguyễn Văn Mới",
            "date_of_birth": "1960-05-19",
            "joined_date": "1985-02-03",
            "is_exempt": True,
            "exempt_since": "2024-01-01",
        },
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["date_of_birth"], body["joined_date"], body["is_exempt"]) == (
        "1960-05-19",
        "1985-02-03",
        True,
    )


@pytest.mark.parametrize("parent_id", ["{c1}", 1.0, True])
async def test_org_parent_ids_are_integers_only(
    client: httpx.AsyncClient,
    tree: Tree,
    as_actor: ActorLogin,
    session: AsyncSession,
    parent_id: object,
) -> None:
    value = str(tree.c1.id) if parent_id == "{c1}" else parent_id
    if value == 1.0:
        value = float(tree.c1.id)
    before = await session.scalar(select(func.count()).select_from(Org))
    response = await client.post(
        "/api/v1/orgs",
        json={"parent_id": value, "name": "Chi bộ Mới", "kind": "branch"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "parent_id"]
    assert await session.scalar(select(func.count()).select_from(Org)) == before


@pytest.mark.parametrize("as_", ["string", "float"])
async def test_role_grant_member_ids_are_integers_only(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, as_: str
) -> None:
    member_id = str(tree.member.id) if as_ == "string" else float(tree.member.id)
    response = await client.post(
        f"/api/v1/orgs/{tree.b1.id}/roles",
        json={"member_id": member_id, "role": "committee_member"},
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "member_id"]


@pytest.mark.parametrize("written", ["{id}.0", "+{id}", "{id}_", " {id}", "{id}e0"])
async def test_ids_in_paths_are_plain_digits(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, written: str
) -> None:
    member_id = written.format(id=tree.member.id)
    response = await client.get(
        f"/api/v1/members/{member_id}", headers=await as_actor(tree.officer_c1.id)
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["path", "member_id"]


@pytest.mark.parametrize(
    "params", [{"limit": "5.0"}, {"limit": "+5"}, {"limit": "1_0"}, {"is_exempt": "yes"}]
)
async def test_query_numbers_and_flags_are_plain(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, params: dict[str, str]
) -> None:
    response = await client.get(
        f"/api/v1/orgs/{tree.b1.id}/members",
        params=params,
        headers=await as_actor(tree.officer_c1.id),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", *params]


@pytest.mark.parametrize("quiet_end", [0, 3600, "3600", 0.0, "06:30:00Z", "06:30+07:00"])
async def test_times_of_day_are_strings_only(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin, quiet_end: object
) -> None:
    headers = await as_actor(tree.member.id)
    response = await client.patch(
        "/api/v1/me/notification-preferences",
        json={"quiet_start": "22:00", "quiet_end": quiet_end},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "quiet_end"]
    accepted = await client.patch(
        "/api/v1/me/notification-preferences",
        json={"quiet_start": "22:00", "quiet_end": "06:30"},
        headers=headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["quiet_end"].startswith("06:30")


# Every field of every request body, present and future: a guard for new schemas.


def _request_fields() -> list[tuple[type[StrictModel], str]]:
    for module in pkgutil.iter_modules(app.schemas.__path__):
        importlib.import_module(f"app.schemas.{module.name}")
    models: list[type[StrictModel]] = []
    pending: list[type[StrictModel]] = [StrictModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            models.append(sub)
            pending.append(sub)
    return [(model, name) for model in models for name in model.model_fields]


LOOSE = {
    "integer": ["1", "12", 1.0, True],
    "boolean": ["true", "yes", 1, 0.0],
    "date": [0, 0.0, "0", "1700000000", "2026-01-01T00:00:00", "20260101", True],
    "time": [0, 0.0, 3600, "3600", "0", True],
}


@pytest.mark.parametrize(
    ("model", "field"), _request_fields(), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_request_field_refuses_loose_values(model: type[StrictModel], field: str) -> None:
    info = model.model_fields[field]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[annotation, *info.metadata]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    schema = adapter.json_schema()
    for variant in schema.get("anyOf", [schema]):
        kind = "date" if variant.get("format") == "date" else variant.get("type")
        if variant.get("format") == "time" or str(variant.get("pattern", "")).startswith(
            "^[0-9]{2}:"
        ):
            kind = "time"  # times of day are documented by pattern (see LocalTime)
        for value in LOOSE.get(kind, []):
            with pytest.raises(ValidationError):
                adapter.validate_python(value)
