"""An import of a file from this process (`handbook import`, the import benchmark): the file
goes through the upload checks and the storage like an upload, then the import's phases run
here as jobs (the same handlers the worker runs), with the counts reported as they grow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import select

from app.models import Job, MemberImport, Org, Role, RoleGrant
from app.resources import Resources
from app.services.access import Actor
from app.services.auth.actor import member_actor
from app.services.imports import runs as import_service
from app.services.orgs import OrgTarget
from app.services.uploads import UploadPurpose
from app.services.uploads import records as upload_records
from app.worker.inline import run_job

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PhaseResult:
    status: str
    counts: dict[str, Any]
    error: str | None
    seconds: float


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(1024 * 1024):
            yield chunk


async def _actor(resources: Resources, member_id: int | None) -> Actor:
    """The member the import is made as: `member_id`, or the first deployment admin."""
    async with resources.db.write.begin() as session:
        if member_id is None:
            member_id = await session.scalar(
                select(RoleGrant.member_id)
                .where(
                    RoleGrant.role == Role.DEPLOYMENT_ADMIN.value,
                    RoleGrant.revoked_at.is_(None),
                )
                .order_by(RoleGrant.id)
                .limit(1)
            )
        actor = await member_actor(session, member_id, session_id="cli") if member_id else None
    if actor is None:
        raise LookupError("no member to import as: pass --by MEMBER_ID (not locked or archived)")
    return actor


async def start(
    resources: Resources,
    path: Path,
    org_id: int,
    by: int | None,
    *,
    allow_transfers: bool = False,
) -> int:
    """Upload the file and create the import (its dry run is queued); the import's id."""
    actor = await _actor(resources, by)
    async with resources.db.write.begin() as session:
        org = await session.get(Org, org_id)
        if org is None:
            raise LookupError(f"org {org_id} does not exist")
        upload = await upload_records.receive(
            session,
            resources.storage,
            resources.settings,
            actor,
            purpose=UploadPurpose.IMPORT,
            chunks=_file_chunks(path),
            declared_name=path.name,
            declared_type=None,
        )
        created = await import_service.create_import(
            session,
            actor,
            OrgTarget(id=org.id, path=org.path, kind=org.kind),
            upload["id"],
            allow_transfers=allow_transfers,
        )
    return int(created["id"])


async def apply(resources: Resources, import_id: int, by: int | None) -> None:
    actor = await _actor(resources, by)
    async with resources.db.write.begin() as session:
        await import_service.apply_import(session, actor, import_id)


async def run_phase(
    resources: Resources, import_id: int, kind: str, progress: Progress | None = None
) -> PhaseResult:
    """Run the import's queued job of `kind` here, reporting its counts every half second."""
    async with resources.db.write.begin() as session:
        job_id = await session.scalar(
            select(Job.id)
            .where(Job.kind == kind, Job.payload["import_id"].as_integer() == import_id)
            .order_by(Job.id.desc())
            .limit(1)
        )
    if job_id is None:
        raise LookupError(f"import {import_id} has no {kind} job")

    async def watch() -> None:
        while True:
            await asyncio.sleep(0.5)
            async with resources.db.read() as session:
                counts = await session.scalar(
                    select(MemberImport.counts).where(MemberImport.id == import_id)
                )
            if counts and progress is not None:
                progress(dict(counts))

    started = asyncio.get_running_loop().time()
    # Only with a callback: the watcher reads on a connection of its own from the pool.
    watcher = asyncio.create_task(watch()) if progress is not None else None
    try:
        await run_job(resources, job_id, owner=f"cli-{import_id}")
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    seconds = asyncio.get_running_loop().time() - started
    async with resources.db.write.begin() as session:
        run = await session.get(MemberImport, import_id)
        assert run is not None  # noqa: S101 - just ran
        return PhaseResult(
            status=run.status,
            counts=dict(run.counts or {}),
            error=run.error_detail,
            seconds=seconds,
        )
