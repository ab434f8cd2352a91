"""Documents of settings the deployment admin edits at run time (one `DeploymentSetting` row per
key): the apps' configuration, the deployment's rules. Reads are cached per process for a short
while; an edit takes `If-Match`, is audited on the root org, and reaches every process within
the cache's time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import etag
from app.core.cache import TTLCache
from app.core.db import FastQuery, Reader
from app.core.errors import NotFound
from app.core.etag import IfMatch
from app.models import DeploymentSetting, Org
from app.models.base import utcnow
from app.services import access, audit
from app.services.access import Actor, Permission

Cache = TTLCache[str, dict[str, Any]]


def new_cache() -> Cache:
    return TTLCache(ttl_s=30, max_entries=16)


def _merged(default: dict[str, Any], value: dict[str, Any] | None, version: int) -> dict[str, Any]:
    return {**default, **(value or {}), "version": version}


async def read(
    session: AsyncSession, cache: Cache, key: str, default: dict[str, Any]
) -> dict[str, Any]:
    """The stored document over its defaults, with its `version` (0: never edited)."""
    if (hit := cache.get(key)) is not None:
        return hit
    row = await session.get(DeploymentSetting, key)
    result = _merged(default, row.value if row else None, row.version if row else 0)
    cache.put(key, result)
    return result


_DOCUMENT = FastQuery(
    select(DeploymentSetting.value, DeploymentSetting.version).where(
        DeploymentSetting.key == bindparam("key", type_=String)
    )
)


async def read_lean(
    reader: Reader, cache: Cache, key: str, default: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`read` on the lean read path, for request dependencies: no session, so nothing opens the
    request's transaction (on SQLite a write transaction holds the one write lock). The same
    dict until the cache's time runs out; `default` is called only then."""
    if (hit := cache.get(key)) is not None:
        return hit
    rows = await reader.fetch(_DOCUMENT, {"key": key})
    value: Any = rows[0]["value"] if rows else None
    if isinstance(value, str | bytes):  # asyncpg hands JSON over as text
        value = json.loads(value)
    result = _merged(default(), value, int(rows[0]["version"]) if rows else 0)
    cache.put(key, result)
    return result


async def root_org(session: AsyncSession) -> Org:
    root = await session.scalar(select(Org).where(Org.parent_id.is_(None)).order_by(Org.id))
    if root is None:
        raise NotFound(code="org.not_found")
    return root


async def replace(
    session: AsyncSession,
    actor: Actor | None,
    key: str,
    value: dict[str, Any],
    *,
    default: dict[str, Any],
    if_match: IfMatch | None,
    cache: Cache,
) -> dict[str, Any]:
    """Replace the document (the deployment admin; `actor=None` is the operator's CLI)."""
    root = await root_org(session)
    if actor is not None:
        access.require(
            actor,
            Permission.DEPLOYMENT_ADMIN,
            root.path,
            not_found_code="org.not_found",
            ancestors_visible=True,  # the root is above everyone: refused, not hidden
        )
    member_id = actor.member_id if actor is not None else None
    row = await session.get(DeploymentSetting, key, with_for_update=True, populate_existing=True)
    etag.check(if_match, row.version if row else 0)
    before = _merged(default, row.value if row else None, 0)
    if row is None:
        row = DeploymentSetting(key=key, value=value, updated_by_id=member_id)
        session.add(row)
    else:
        row.value = value
        row.updated_at = utcnow()
        row.updated_by_id = member_id
    await session.flush()
    before.pop("version")
    await audit.record(
        session,
        actor,
        f"deployment.{key}",
        target=("deployment_setting", key),
        org_id=root.id,
        changes=audit.changes(before, value),
    )
    cache.clear()  # this process at once; the others within the cache's time
    return _merged(default, row.value, row.version)
