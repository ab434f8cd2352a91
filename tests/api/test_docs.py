"""The live contract (`/openapi.json`) and Swagger UI (`/docs`): off in prod unless enabled, and
Swagger UI's files come from the installed package, never a CDN (province networks may be
closed)."""

from __future__ import annotations

import re

import httpx
import pytest

from app.core.config import ApiSettings, Env, Settings
from app.main import create_app
from tests.conftest import make_settings


def _settings(env: Env, docs: bool | None = None) -> Settings:
    return make_settings().model_copy(update={"env": env, "api": ApiSettings(docs=docs)})


async def _get(settings: Settings, *paths: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.get(path) for path in paths]


@pytest.mark.parametrize(
    ("env", "docs", "served"),
    [
        (Env.PROD, None, False),
        (Env.PROD, True, True),
        (Env.DEV, None, True),
        (Env.TEST, None, True),
        (Env.DEV, False, False),
    ],
)
async def test_docs_and_openapi_follow_api_docs(env: Env, docs: bool | None, served: bool) -> None:
    responses = await _get(_settings(env, docs), "/openapi.json", "/docs")
    assert [r.status_code for r in responses] == ([200, 200] if served else [404, 404])


async def test_swagger_ui_is_served_from_the_package() -> None:
    (page,) = await _get(_settings(Env.DEV), "/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\\s*["']([^"']+)["']""", page.text)
    assert urls
    assert not [u for u in urls if "//" in u], urls  # nothing from another host
    assets = await _get(_settings(Env.DEV), *urls)
    kinds = {}
    for url, response in zip(urls, assets, strict=True):
        assert response.status_code == 200, url
        kinds[url.rsplit(".", 1)[-1]] = response.headers["content-type"]
    assert kinds["js"].startswith(("text/javascript", "application/javascript"))
    assert kinds["css"].startswith("text/css")


def test_the_document_is_built_even_when_not_served() -> None:
    app = create_app(_settings(Env.PROD, docs=False))
    assert "/api/v1/auth/otp/request" in app.openapi()["paths"]
