"""The mobile apps' configuration: minimum supported versions, the deployment's name and support
contact, feature switches. Read by every app at start (no login), set by the deployment admin.

Reads are cached per process for a short while (the apps ask at every start); an edit takes
`If-Match`, is audited, and reaches every process within the cache's time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.cache import TTLCache
from app.core.errors import NotFound
from app.core.etag import IfMatch
from app.models import DeploymentSetting, Org
from app.models.base import utcnow
from app.schemas.app_config import AppConfigUpdate
from app.services import access, audit
from app.services.access import Actor, Permission

KEY = "app_config"
DEFAULT: dict[str, Any] = {
    "deployment_name": "Sổ tay đảng viên",
    "min_versions": {"ios": "0.0.0", "android": "0.0.0"},
    "support": {"phone": None, "email": None, "hours": None},
    "features": {},
}

Cache = TTLCache[str, dict[str, Any]]


def new_cache() -> Cache:
    return TTLCache(ttl_s=30, max_entries=4)


def _read(value: dict[str, Any] | None, version: int) -> dict[str, Any]:
    return {**DEFAULT, **(value or {}), "version": version}


async def read(session: AsyncSession, cache: Cache) -> dict[str, Any]:
    if (hit := cache.get(KEY)) is not None:
        return hit
    row = await session.get(DeploymentSetting, KEY)
    result = _read(row.value if row else None, row.version if row else 0)
    cache.put(KEY, result)
    return result


async def _root(session: AsyncSession) -> Org:
    root = await session.scalar(select(Org).where(Org.parent_id.is_(None)).order_by(Org.id))
    if root is None:
        raise NotFound(code="org.not_found")
    return root


async def replace(
    session: AsyncSession,
    actor: Actor,
    data: AppConfigUpdate,
    *,
    if_match: IfMatch | None,
    cache: Cache,
) -> dict[str, Any]:
    root = await _root(session)
    access.require(
        actor,
        Permission.DEPLOYMENT_ADMIN,
        root.path,
        not_found_code="org.not_found",
        ancestors_visible=True,  # the root is above everyone: refused, not hidden
    )
    row = await session.get(DeploymentSetting, KEY, with_for_update=True, populate_existing=True)
    etag.check(if_match, row.version if row else 0)
    before = _read(row.value if row else None, 0)
    value = data.model_dump(mode="json")
    if row is None:
        row = DeploymentSetting(key=KEY, value=value, updated_by_id=actor.member_id)
        session.add(row)
    else:
        row.value = value
        row.updated_at = utcnow()
        row.updated_by_id = actor.member_id
    await session.flush()
    before.pop("version")
    await audit.record(
        session,
        actor,
        "deployment.app_config",
        target=("deployment_setting", KEY),
        org_id=root.id,
        changes=audit.changes(before, value),
    )
    cache.clear()  # this process at once; the others within the cache's time
    return _read(row.value, row.version)
