"""Hostile and sloppy input at the edge: names are NFC text with something visible in them, and
request bodies are parsed strictly (dates only as ISO strings, integers only as integers,
booleans only as booleans). Refused input is a 422 and changes nothing."""

from __future__ import annotations

import unicodedata

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, Org
from tests.conftest import ActorLogin
from tests.factories import Tree

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
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "request.invalid"
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
