"""Operational endpoints, served at the root: liveness, readiness and metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import get_resources
from app.api.responses import problems
from app.api.routing import area_router
from app.core import metrics
from app.core.config import Settings
from app.core.errors import ServiceUnavailable
from app.models.base import utcnow
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


@router.get("/readyz", response_model=Health, responses=problems(503))
async def get_readiness(request: Request) -> Health:
    """The database answers: safe to send traffic here."""
    try:
        async with get_resources(request).db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(
            "Cơ sở dữ liệu không sẵn sàng.", code="ops.database_unavailable"
        ) from exc
    return _OK


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        }
    },
)
async def get_metrics(request: Request) -> Response:
    """Prometheus metrics of this process (or of all workers, in multi-process mode)."""
    # The job queue, live workers and the SMS budget are read from the database (throttled).
    resources = get_resources(request)
    await metrics.refresh_from_database(
        lambda: _refresh_gauges(resources.db.read, resources.settings)
    )
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
