"""Headers on every response: no sniffing, no caching of tokens and personal data."""

from __future__ import annotations

import httpx

from tests.conftest import ActorLogin
from tests.factories import Tree


async def test_every_response_says_nosniff(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    responses = [
        await client.get("/healthz"),
        await client.get("/api/v1/nowhere"),
        await client.get("/api/v1/me/home", headers=await as_actor(tree.member.id)),
        await client.post("/api/v1/auth/otp/request", json={"phone": "12"}),
        await client.post(
            "/api/v1/auth/otp/request",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={"content-type": "application/json"},
        ),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


async def test_tokens_and_personal_data_are_never_cached(
    client: httpx.AsyncClient, tree: Tree, as_actor: ActorLogin
) -> None:
    headers = await as_actor(tree.officer_c1.id)
    responses = [
        await client.post("/api/v1/auth/otp/request", json={"phone": "0987 654 321"}),
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"}),
        await client.get("/api/v1/me", headers=headers),
        await client.get("/api/v1/me/home", headers=headers),
        await client.get(f"/api/v1/orgs/{tree.b1.id}/members", headers=headers),
        await client.get(f"/api/v1/members/{tree.member.id}", headers=headers),
        await client.get("/api/v1/me"),
    ]
    for response in responses:
        assert response.headers["cache-control"] == "no-store", response.request.url
