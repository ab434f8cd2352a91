"""The mobile apps' configuration: minimum supported versions, the deployment's name and support
contact, feature switches. Read by every app at start (no login), set by the deployment admin.

Stored as a deployment settings document (services/deployment_settings.py): cached per
process for a short while (the apps ask at every start); an edit takes `If-Match` and is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.etag import IfMatch
from app.schemas.app_config import AppConfigUpdate
from app.services import deployment_settings
from app.services.access import Actor
from app.services.deployment_settings import Cache

KEY = "app_config"
DEFAULT: dict[str, Any] = {
    "deployment_name": "Sổ tay đảng viên",
    "min_versions": {"ios": "0.0.0", "android": "0.0.0"},
    "support": {"phone": None, "email": None, "hours": None},
    "features": {},
}


async def read(session: AsyncSession, cache: Cache) -> dict[str, Any]:
    return await deployment_settings.read(session, cache, KEY, DEFAULT)


async def replace(
    session: AsyncSession,
    actor: Actor,
    data: AppConfigUpdate,
    *,
    if_match: IfMatch | None,
    cache: Cache,
) -> dict[str, Any]:
    return await deployment_settings.replace(
        session,
        actor,
        KEY,
        data.model_dump(mode="json"),
        default=DEFAULT,
        if_match=if_match,
        cache=cache,
    )
