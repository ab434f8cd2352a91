"""Operational endpoints, served at the root: liveness, readiness and metrics.

`/metrics` is for operators, not the public: with `OPS__METRICS_TOKEN` set it needs that token as
a bearer token; without one it is served only in `ENV=dev` (the demo) and answers 404 elsewhere.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import get_resources
from app.api.responses import problems
from app.api.routing import area_router
from app.core import metrics
from app.core.config import Settings
from app.core.errors import NotFound, ServiceUnavailable, Unauthorized
from app.models.base import utcnow
from app.resources import Resources
from app.services import monitoring

router = area_router(tags=["ops"])


async def _refresh_gauges(maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    async with maker() as session:
        await monitoring.refresh_gauges(session, settings, utcnow())


class Health(BaseModel):
    status: Literal["ok"]


_OK = Health(status="ok")


@router.get("/healthz", response_model=Health)
async def get_health() -> Health:
    """The process is up (no dependency is checked)."""
    return _OK


@router.get(
    "/readyz", response_model=Health, responses=problems(codes={503: ["ops.database_unavailable"]})
)
async def get_readiness(request: Request) -> Health:
    """The database answers: safe to send traffic here."""
    try:
        async with get_resources(request).db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        metrics.READINESS_FAILURES.inc()
        raise ServiceUnavailable(
            "Cơ sở dữ liệu không sẵn sàng.", code="ops.database_unavailable"
        ) from exc
    return _OK


_metrics_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsToken",
    description="The operators' token `OPS__METRICS_TOKEN` (not a member's access token).",
)


async def require_metrics_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """The caller is the operators' scraper: it holds `OPS__METRICS_TOKEN`."""
    settings: Settings = request.app.state.settings
    expected = settings.ops.metrics_token.get_secret_value()
    if not expected:
        if settings.is_dev:
            return
        raise NotFound(
            "Số liệu giám sát chưa được bật: đặt OPS__METRICS_TOKEN để đọc /metrics.",
            code="ops.metrics_disabled",
        )
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(
            "Cần mã truy cập số liệu giám sát của người vận hành.",
            code="ops.metrics_token_invalid",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        },
        **problems(codes={401: ["ops.metrics_token_invalid"], 404: ["ops.metrics_disabled"]}),
    },
    dependencies=[Depends(require_metrics_token)],
)
async def get_metrics(request: Request) -> Response:
    """Prometheus metrics of this process (or of all workers, in multi-process mode).

    For operators only: send `Authorization: Bearer <OPS__METRICS_TOKEN>`. Without that setting
    the endpoint answers 404 (`ops.metrics_disabled`), except in `ENV=dev`.
    """
    # The job queue, live workers and the SMS budget are read from the database (throttled).
    resources = get_resources(request)
    await metrics.refresh_from_database(
        lambda: _refresh_gauges(resources.db.read, resources.settings)
    )
    _record_pools(resources)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


def _record_pools(resources: Resources | None) -> None:
    if resources is None:  # an app served without its lifespan (some tests)
        return
    orm = resources.db.pool_stats()
    if orm is not None:
        metrics.record_pool("orm", in_use=orm[0], idle=orm[1], capacity=orm[2])
    stats = getattr(resources.reader, "pool_stats", None)
    if stats is not None:
        in_use, idle, capacity = stats()
        metrics.record_pool("read", in_use=in_use, idle=idle, capacity=capacity)
