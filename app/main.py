"""The FastAPI application: `create_app()` wires settings, resources, middleware and routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig

from app.api.docs import install_docs
from app.api.idempotency import IdempotentReplay, replay_response
from app.api.openapi import install_openapi
from app.api.router import install_routes
from app.api.routing import operation_id
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware
from app.resources import Resources

log = logging.getLogger("app")

DESCRIPTION = """\
Backend of **Sổ tay đảng viên điện tử**, the electronic party-member handbook.

- Log in with `POST /api/v1/auth/otp/request` then `/otp/verify` (or `/password/login`); send the
  access token as `Authorization: Bearer …`; refresh with `/auth/refresh` (refresh tokens are
  single use).
- Errors are `application/problem+json` with a stable `code`; lists are cursor pages
  (`{items, next_cursor}`); phones are returned in E.164; times are ISO 8601 in UTC.
"""

TAGS = [
    {"name": "app", "description": "What the mobile apps read at start (no login)."},
    {"name": "auth", "description": "Login by SMS code or password; tokens; logout."},
    {"name": "me", "description": "The member's own profile and home screen."},
    {"name": "notifications", "description": "The inbox, push devices and preferences."},
    {"name": "orgs", "description": "The party organisation tree."},
    {
        "name": "reorganisation",
        "description": "Moving, merging and dissolving orgs, with the tree's history kept.",
    },
    {"name": "members", "description": "Party members of a branch or subtree."},
    {
        "name": "membership",
        "description": "Membership over time: history, transfers, residence, exemptions, "
        "full membership, archive.",
    },
    {
        "name": "accounts",
        "description": "A member's phone number and logins (devices).",
    },
    {"name": "roles", "description": "Roles held on orgs; they cover the org's subtree."},
    {"name": "audit", "description": "Who did what: the audit log of an org's subtree."},
    {"name": "uploads", "description": "Files checked by content, for areas to attach."},
    {"name": "meetings", "description": "Branch meetings: agenda, attendance, votes, minutes."},
    {"name": "tasks", "description": "Tasks of a branch, from its meetings or not."},
    {
        "name": "rules",
        "description": "The deployment's rules: quorum, passing, reminders, study target.",
    },
    {"name": "documents", "description": "Documents published down the hierarchy; relays, reads."},
    {"name": "articles", "description": "News: drafted, approved and published for a subtree."},
    {"name": "feed", "description": "The member's feed; search over documents and articles."},
    {"name": "packets", "description": "Conference papers and bulletins behind a QR code."},
    {"name": "study", "description": "Study points, quizzes and leaderboards."},
    {"name": "surveys", "description": "Surveys of a subtree, optionally anonymous."},
    {"name": "imports", "description": "Member imports from spreadsheets, roster exports."},
    {
        "name": "stats",
        "description": "Statistics of an org's subtree per period, per-child breakdown, the "
        "progress report (.xlsx).",
    },
    {"name": "ops", "description": "Health, readiness and metrics (served at the root)."},
]


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if getattr(app.state, "resources", None) is None:
        app.state.resources = Resources.build(app.state.settings)
        owned = True
    else:  # handed in by the caller (tests), who also closes it
        owned = False
    embedded: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    if app.state.settings.worker.embedded:
        # The demo's worker (WORKER__EMBEDDED): jobs and notices without a second process.
        from app.worker.runner import Worker

        worker = Worker(app.state.resources)
        embedded = asyncio.create_task(worker.run(stop), name="embedded-worker")
    # Everything built so far (modules, routes, compiled schemas) lives as long as the process:
    # move it out of the collector's generations so collections stay short under load.
    gc.freeze()
    try:
        yield
    finally:
        if embedded is not None:
            stop.set()
            await embedded
        if owned:
            await app.state.resources.aclose()
            app.state.resources = None


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Sổ tay đảng viên API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        separate_input_output_schemas=True,
        # Off unless asked for (`OPS__OPENTELEMETRY`): otherwise every request looks for a
        # configured tracer, meter and logger provider first.
        telemetry=None if settings.ops.opentelemetry else _NO_TELEMETRY,
        # /docs and /openapi.json come from `api.docs` (Swagger UI's files from the package).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.resources = resources
    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, replay_response)
    install_openapi(app)
    install_routes(app)
    if settings.docs_enabled:
        install_docs(app)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.api.max_body_bytes,
        log_settings=settings.log,
    )
    return app


def build_app() -> FastAPI:
    """Entry point for uvicorn (`app.main:build_app`, factory): settings from the environment."""
    settings = get_settings().with_dev_secret().checked()
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    return create_app(settings)
