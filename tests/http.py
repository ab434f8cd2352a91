"""HTTP helpers for tests."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel


async def collect(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    page_size: int = 2,
) -> list[dict[str, Any]]:
    """Every item of a paginated list, following next_cursor (small pages by default)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**(params or {}), "limit": page_size, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is a problem+json with this status and stable `code`; returns its body."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text[:500]}"
    )
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    return body


def assert_written_as(model: type[BaseModel], response: httpx.Response) -> dict[str, Any]:
    """A response written from plain values (`plain_json`) is exactly what its documented model
    would write: every field present, of its own JSON type (a boolean, not SQLite's 0 or 1)."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert model.model_validate_json(response.content, strict=True).model_dump(mode="json") == body
    return body
