"""Member imports (dry run, apply) and roster exports, as worker jobs.

`import.check` and `import.apply` read the uploaded file row by row in a thread (openpyxl
read-only / csv), `IMPORTS__BATCH_ROWS` rows at a time; each batch is one transaction that
holds its writes (apply only), the refused rows with their problems, the import's cursor
(`next_row`) and counts, and the job's progress. A phase that stops (a deploy, a lost worker)
resumes after its cursor: the rows before it are read again only to rebuild the in-file
duplicate checks. At the end the report (.xlsx) is written to the storage.

`export.members` writes the members of an org's subtree to an .xlsx or .csv, streamed in
keyset chunks, and stores it for a short-lived download link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.storage import Storage
from app.models import (
    ExportStatus,
    ImportStatus,
    Member,
    MemberExport,
    MemberImport,
    MemberImportRow,
    Org,
    OrgKind,
    Upload,
)
from app.services import access, audit
from app.services.auth.actor import member_actor
from app.services.imports import processing
from app.services.imports.checking import Branch, Branches, CheckedRow, RowChecker
from app.services.imports.reading import FileProblem, read_rows
from app.services.imports.report import CSV_TYPE, RosterWriter, write_report
from app.services.imports.runs import APPLY_JOB, CHECK_JOB, EXPORT_JOB
from app.services.spreadsheets import XLSX_TYPE
from app.worker import queue
from app.worker.registry import JobContext, Later, PermanentError, registry

log = logging.getLogger("app.worker.imports")

EXPORT_CHUNK: Final = 2000
MISSING_IN_REPORT: Final = 2_000  # members listed by name in the report (all are counted)
_m = Member.__table__
_org = Org.__table__
_rows = MemberImportRow.__table__
_i = MemberImport.__table__


class LeaseLost(Exception):
    """Another worker owns the job now: roll back and stop."""


def _zero() -> dict[str, Any]:
    return {"rows": 0, **dict.fromkeys(processing.OUTCOMES, 0)}


def _today(ctx: JobContext) -> date:
    return ctx.now().astimezone(ZoneInfo(ctx.resources.settings.rules.timezone)).date()


async def _branches(session: AsyncSession, org: Org) -> Branches:
    lo, hi = access.subtree_range(org.path)
    rows = await session.execute(
        select(_org.c.id, _org.c.path, _org.c.name).where(
            _org.c.path >= lo, _org.c.path < hi, _org.c.kind == OrgKind.BRANCH
        )
    )
    branches = [Branch(id=r.id, path=r.path, name=r.name) for r in rows]
    default = next((b for b in branches if b.id == org.id), None)
    return Branches(branches, default=default)


def _temp_path(directory: Path, prefix: str = "report-", suffix: str = ".xlsx") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(fd)
    return Path(name)


async def _download(storage: Storage, key: str, directory: Path, kind: str) -> Path:
    # openpyxl goes by the name's extension.
    path = await anyio.to_thread.run_sync(_temp_path, directory, "import-", f".{kind}")
    try:
        stream = await storage.open(key)
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in stream:
                await out.write(chunk)
    except BaseException:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
        raise
    return path


async def _fail(ctx: JobContext, import_id: int, problem: FileProblem) -> None:
    async with ctx.db.write.begin() as session:
        await session.execute(
            update(MemberImport)
            .where(MemberImport.id == import_id)
            .values(
                status=ImportStatus.FAILED,
                error_code=problem.code,
                error_detail=problem.detail[:500],
                updated_at=ctx.now(),
            )
        )
    log.info("import refused", extra={"import": import_id, "code": problem.code})


@registry.handler(CHECK_JOB)
async def check_import(ctx: JobContext) -> Later | None:
    return await _last_attempt_fails_the_import(ctx, apply=False)


@registry.handler(APPLY_JOB)
async def apply_import(ctx: JobContext) -> Later | None:
    return await _last_attempt_fails_the_import(ctx, apply=True)


async def _last_attempt_fails_the_import(ctx: JobContext, *, apply: bool) -> Later | None:
    """A phase that keeps failing (the job dies after its last attempt) leaves the import
    `failed` with a problem the officer can read, never `checking`/`applying` for ever."""
    try:
        return await _run_phase(ctx, apply=apply)
    except LeaseLost:
        raise
    except Exception:
        if ctx.job.attempts >= ctx.job.max_attempts:
            await _fail(
                ctx,
                int(ctx.payload["import_id"]),
                FileProblem(
                    "import.job_failed",
                    "Hệ thống gặp lỗi khi xử lý tệp (đã thử lại nhiều lần); các dòng đã cập "
                    "nhật được giữ nguyên. Hãy báo quản trị hệ thống.",
                ),
            )
        raise


class _Pass:
    """The file read once, in a thread a batch at a time; rows up to `resume_after` are only
    checked (duplicates in the file are found against every row)."""

    def __init__(
        self, source: Iterator[Any], checker: RowChecker, *, resume_after: int, max_rows: int
    ) -> None:
        self.source = source
        self.checker = checker
        self.resume_after = resume_after
        self.max_rows = max_rows
        self.seen = 0

    def next_batch(self, size: int) -> list[CheckedRow]:
        batch: list[CheckedRow] = []
        for raw in self.source:
            self.seen += 1
            if self.seen > self.max_rows:
                raise FileProblem(
                    "import.too_many_rows",
                    f"Tệp có quá {self.max_rows:,} dòng dữ liệu: hãy chia nhỏ tệp.".replace(
                        ",", "."
                    ),
                )
            row = self.checker.check(raw)
            if raw.number <= self.resume_after:
                continue
            batch.append(row)
            if len(batch) >= size:
                break
        return batch


async def _run_phase(ctx: JobContext, *, apply: bool) -> Later | None:
    import_id = int(ctx.payload["import_id"])
    settings = ctx.resources.settings
    expected = ImportStatus.APPLYING if apply else ImportStatus.CHECKING
    async with ctx.db.write.begin() as session:
        run = await session.get(MemberImport, import_id)
        if run is None:
            raise PermanentError(f"import {import_id} does not exist")
        if run.status != expected:
            return None
        upload = await session.get(Upload, run.upload_id) if run.upload_id else None
        org = await session.get(Org, run.org_id)
        if upload is None or org is None:
            problem = FileProblem("import.file_gone", "Tệp tải lên không còn.")
        else:
            problem = None
            key = upload.storage_key
            kind = "csv" if upload.content_type.startswith("text/csv") else "xlsx"
            branches = await _branches(session, org)
            branch_required = org.kind != OrgKind.BRANCH
            org_path, org_name = org.path, org.name
        resume_after, counts = run.next_row, dict(run.counts or _zero())
        filename = run.filename
        transfers = None
        if run.allow_transfers:
            # The rights of the officer who asked for this phase, as they are now.
            by = run.applied_by_id if apply else run.created_by_id
            actor = (
                await member_actor(session, by, session_id=f"import-{import_id}") if by else None
            )
            transfers = processing.Transfers(
                actor, f"Nhập tệp “{filename}” (lần nhập số {import_id})"
            )
    if problem is not None:
        await _fail(ctx, import_id, problem)
        return None
    path = await _download(ctx.resources.storage, key, settings.upload_tmp_dir, kind)
    try:
        checker = RowChecker(branches, today=_today(ctx))
        reading = _Pass(
            read_rows(path, kind, branch_required=branch_required),
            checker,
            resume_after=resume_after,
            max_rows=settings.imports.max_rows,
        )
        size = settings.imports.batch_rows
        # The next batch is read and checked in its thread while this one is in the database.
        reading_ahead = asyncio.ensure_future(anyio.to_thread.run_sync(reading.next_batch, size))
        try:
            while True:
                try:
                    batch = await reading_ahead
                except FileProblem as exc:
                    await _fail(ctx, import_id, exc)
                    return None
                if not batch:
                    break
                reading_ahead = asyncio.ensure_future(
                    anyio.to_thread.run_sync(reading.next_batch, size)
                )
                await _batch(
                    ctx, import_id, expected, batch, counts, apply=apply, transfers=transfers
                )
                if ctx.stopping.is_set():
                    return Later(ctx.now(), {"rows": counts["rows"]})
        finally:
            # Never leave the thread reading the file that is about to be removed.
            with contextlib.suppress(Exception):
                await asyncio.shield(reading_ahead)
        await _finish(
            ctx,
            import_id,
            expected,
            counts,
            apply=apply,
            cards=set(checker.cards),
            org_path=org_path,
            title=f"{'Cập nhật' if apply else 'Kiểm tra thử'}: {filename} → {org_name}",
        )
    finally:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
    return None


async def _batch(
    ctx: JobContext,
    import_id: int,
    expected: ImportStatus,
    batch: list[CheckedRow],
    counts: dict[str, Any],
    *,
    apply: bool,
    transfers: processing.Transfers | None,
) -> None:
    now, today = ctx.now(), _today(ctx)
    new_counts = dict(counts)
    async with ctx.db.write.begin() as session:
        if apply:
            decisions = await processing.apply_batch(
                session, batch, now=now, today=today, transfers=transfers
            )
        else:
            decisions = await processing.decide(
                session, batch, lock=False, now=now, today=today, transfers=transfers
            )
        for decision in decisions:
            # .get: the counts of a run started before `transferred` was counted.
            new_counts[decision.outcome] = new_counts.get(decision.outcome, 0) + 1
        new_counts["rows"] += len(batch)
        rejected = [
            {
                "import_id": import_id,
                "row": d.row.number,
                "cells": d.row.report_cells(),
                "problems": [p.as_dict() for p in d.row.problems],
            }
            for d in decisions
            if d.outcome == processing.REJECTED
        ]
        if rejected:
            await session.execute(insert(MemberImportRow), rejected)
        moved = await session.execute(
            update(MemberImport)
            .where(MemberImport.id == import_id, MemberImport.status == expected)
            .values(next_row=batch[-1].number, counts=new_counts, updated_at=now)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            raise LeaseLost()
        if not await queue.save_progress(
            session, ctx.job.id, ctx.owner, {"rows": new_counts["rows"]}
        ):
            raise LeaseLost()
    counts.update(new_counts)


async def _missing(
    session: AsyncSession, org_path: str, cards: set[str]
) -> tuple[int, list[tuple[str | None, str, str]]]:
    """Members of the subtree that the file does not list (by card number); archived members
    (no longer on the rolls) are not missing."""
    lo, hi = access.subtree_range(org_path)
    result = await session.stream(
        select(_m.c.party_card_number, _m.c.full_name, _org.c.name)
        .join(_org, _org.c.id == _m.c.branch_id)
        .where(_m.c.org_path >= lo, _m.c.org_path < hi, _m.c.archived_on.is_(None))
        .order_by(_m.c.org_path, _m.c.sort_key, _m.c.id)
        .execution_options(yield_per=EXPORT_CHUNK)
    )
    count = 0
    listed: list[tuple[str | None, str, str]] = []
    async for partition in result.partitions(EXPORT_CHUNK):  # one await per chunk, not per row
        for card, name, branch in partition:
            if card is None or card not in cards:
                count += 1
                if len(listed) < MISSING_IN_REPORT:
                    listed.append((card, name, branch))
    return count, listed


async def _finish(
    ctx: JobContext,
    import_id: int,
    expected: ImportStatus,
    counts: dict[str, Any],
    *,
    apply: bool,
    cards: set[str],
    org_path: str,
    title: str,
) -> None:
    settings = ctx.resources.settings
    async with ctx.db.write.begin() as session:
        missing, listed = await _missing(session, org_path, cards)
        rejected = (
            await session.execute(
                select(_rows.c.row, _rows.c.cells, _rows.c.problems)
                .where(_rows.c.import_id == import_id)
                .order_by(_rows.c.row)
            )
        ).all()
    counts = {**counts, "missing": missing}
    report = await anyio.to_thread.run_sync(_temp_path, settings.upload_tmp_dir)
    try:
        await anyio.to_thread.run_sync(
            lambda: write_report(
                report,
                summary=counts,
                title=title,
                rejected=[(r.row, r.cells, r.problems) for r in rejected],
                missing=listed,
            )
        )
        key = f"imports/{import_id}/report-{'apply' if apply else 'check'}.xlsx"
        await ctx.resources.storage.put_file(key, report, content_type=XLSX_TYPE, move=True)
    finally:
        await anyio.to_thread.run_sync(lambda: report.unlink(missing_ok=True))
    now = ctx.now()
    async with ctx.db.write.begin() as session:
        run = await session.get(MemberImport, import_id, with_for_update=True)
        if run is None or run.status != expected:
            return
        run.counts = counts
        run.report_key = key
        run.updated_at = now
        if apply:
            run.status = ImportStatus.APPLIED
            run.applied_at = now
            await audit.record(
                session,
                None,
                "member_import.applied",
                target=("member_import", import_id),
                org_id=run.org_id,
                detail=counts,
            )
        else:
            run.status = ImportStatus.CHECKED
            run.checked_at = now
            run.checked_counts = counts
        if not await queue.save_progress(session, ctx.job.id, ctx.owner, counts):
            raise LeaseLost()
    log.info(
        "import phase finished",
        extra={"import": import_id, "phase": "apply" if apply else "check", **counts},
    )


# --- exports -------------------------------------------------------------------------------------


def _date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return (value.date() if isinstance(value, datetime) else value).strftime("%d/%m/%Y")


_STATUS_TEXT: Final = {"full": "Chính thức", "probationary": "Dự bị"}
_GENDER_TEXT: Final = {"male": "Nam", "female": "Nữ"}


@registry.handler(EXPORT_JOB)
async def export_members(ctx: JobContext) -> Later | None:
    export_id = int(ctx.payload["export_id"])
    settings = ctx.resources.settings
    async with ctx.db.write.begin() as session:
        export = await session.get(MemberExport, export_id)
        if export is None:
            raise PermanentError(f"export {export_id} does not exist")
        if export.status != ExportStatus.PENDING:
            return None
        org = await session.get(Org, export.org_id)
        if org is None:
            raise PermanentError(f"org {export.org_id} does not exist")
        fmt, phones, org_path = export.format, export.include_phones, org.path
    directory = settings.upload_tmp_dir
    await anyio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    writer = await anyio.to_thread.run_sync(RosterWriter, fmt, directory)
    lo, hi = access.subtree_range(org_path)
    count = 0
    try:
        last: tuple[str, str, int] | None = None
        while True:
            query = (
                select(
                    _m.c.id,
                    _m.c.org_path,
                    _m.c.sort_key,
                    _m.c.party_card_number,
                    _m.c.full_name,
                    _m.c.date_of_birth,
                    _m.c.gender,
                    _m.c.phone,
                    _org.c.name.label("branch_name"),
                    _m.c.status,
                    _m.c.joined_date,
                    _m.c.official_date,
                    _m.c.is_exempt,
                )
                .join(_org, _org.c.id == _m.c.branch_id)
                # The members on the rolls (archived members are not exported).
                .where(_m.c.org_path >= lo, _m.c.org_path < hi, _m.c.archived_on.is_(None))
                .order_by(_m.c.org_path, _m.c.sort_key, _m.c.id)
                .limit(EXPORT_CHUNK)
            )
            if last is not None:
                query = query.where(tuple_(_m.c.org_path, _m.c.sort_key, _m.c.id) > last)
            async with ctx.db.write.begin() as session:
                rows = (await session.execute(query)).all()
            if not rows:
                break
            chunk = [
                [
                    r.party_card_number or "",
                    r.full_name,
                    _date(r.date_of_birth),
                    _GENDER_TEXT.get(r.gender or "", ""),
                    (r.phone or "") if phones else "",
                    r.branch_name,
                    _STATUS_TEXT.get(r.status, r.status),
                    _date(r.joined_date),
                    _date(r.official_date),
                    "Có" if r.is_exempt else "Không",
                ]
                for r in rows
            ]
            await anyio.to_thread.run_sync(writer.add, chunk)
            count += len(rows)
            last = (rows[-1].org_path, rows[-1].sort_key, rows[-1].id)
        path = await anyio.to_thread.run_sync(writer.finish)
        key = f"exports/{export_id}/members.{fmt}"
        await ctx.resources.storage.put_file(
            key, path, content_type=XLSX_TYPE if fmt == "xlsx" else CSV_TYPE, move=True
        )
    finally:
        await anyio.to_thread.run_sync(writer.discard)
    async with ctx.db.write.begin() as session:
        await session.execute(
            update(MemberExport)
            .where(MemberExport.id == export_id)
            .values(status=ExportStatus.DONE, rows=count, storage_key=key, finished_at=ctx.now())
        )
    log.info("members exported", extra={"export": export_id, "rows": count})
    return None
