"""Swagger UI at `/docs`, with its files served from the installed `swagger-ui-bundle-v2` package
(never a CDN: province networks may be closed), and the live contract at `/openapi.json`.

Both exist only when `API__DOCS` is on (the default in dev and test, off in prod); clients use
the committed `openapi/openapi.json`. Neither is an operation of the API (`include_in_schema`
is off), and `handbook openapi export` builds the document from the app either way.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OPENAPI_URL = "/openapi.json"


def install_docs(app: FastAPI) -> None:
    """Plain routes (like FastAPI's own docs routes), not API operations."""

    async def openapi_document(_: Request) -> JSONResponse:
        return JSONResponse(app.openapi())

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title}: tài liệu API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=None,
        )

    app.add_route(OPENAPI_URL, openapi_document, include_in_schema=False)
    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger_ui_assets")
