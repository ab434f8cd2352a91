"""The `import` part of `handbook bench` (`handbook bench --part import`): a generated member file
(.xlsx, 50,000 rows by default, `--import-rows`) imported into the bench province on PostgreSQL,
through the same handlers the worker runs.

The import writes, so it runs on a copy of the bench database (`<name>_import`, a file copy made
after seeding and dropped at the end): the province the reads are measured on stays as it was.
The file is imported at the province's root as one of its organisation officers: 50,000 new
members spread over every branch (named as the national export names them; by id where the
province repeats a branch's name).

Measured (DESIGN.md §5, member import bar: a 50,000-row spreadsheet in ≤ 60 s with a row-level
report), each phase separately: the dry run, the apply (all rows new), and a re-import of the
same file (dry run and apply), which must change nothing. Rows/s = data rows ÷ the phase's
seconds, from the job's start to its report stored. The section goes into
docs/benchmarks/latest.json like every other part's.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.bench.parts import Measure

BAR_S = 60.0
DEFAULT_ROWS = 50_000
COPY_SUFFIX = "_import"

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi")
_MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Quốc", "Ngọc", "Xuân")
_GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phúc")
HEADERS = (
    "Số thẻ đảng viên",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số điện thoại",
    "Chi bộ",
    "Loại đảng viên",
    "Ngày vào Đảng",
    "Ngày chính thức",
    "Miễn sinh hoạt",
)


def branch_labels(branches: list[tuple[int, str]]) -> list[str]:
    """What the file writes in `Chi bộ` for each branch: its name, or its id where several
    branches of the province share the name (the import refuses an ambiguous name)."""
    from app.core.text import fold

    seen = Counter(fold(name) for _id, name in branches)
    return [name if seen[fold(name)] == 1 else str(branch_id) for branch_id, name in branches]


def write_member_file(
    path: Path, rows: int, branches: list[str], seed: int = 14, prefix: str = "6"
) -> None:
    """A national-export-like .xlsx of `rows` new members spread over `branches`. Card numbers
    `6xxxxxxx` and phones 096 0xx xxxx are clear of the generated province's."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh sách đảng viên")
    sheet.append(HEADERS)
    for n in range(rows):
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 50))
        joined = born + timedelta(days=365 * rng.randint(19, 40))
        joined = min(joined, date(2024, 12, 31))
        probationary = rng.random() < 0.05
        sheet.append(
            (
                f"{prefix}{n:07d}",
                f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}",
                born.strftime("%d/%m/%Y"),
                rng.choice(("Nam", "Nữ")),
                f"09{prefix}{n:07d}",
                branches[n % len(branches)],
                "Dự bị" if probationary else "Chính thức",
                joined,
                None if probationary else (joined + timedelta(days=365)).strftime("%d/%m/%Y"),
                "Có" if rng.random() < 0.03 else "Không",
            )
        )
    workbook.save(path)


async def _province(url: str) -> tuple[int, int, list[tuple[int, str]]]:
    """The root, an organisation officer of the root (the import is made as them), and the
    active branches (id, name) in id order."""
    from sqlalchemy import select

    from app.bench import dataset as ds
    from app.bench.wrk import BenchError
    from app.models import Member, Org, OrgKind, Role, RoleGrant

    engine = ds._engine(ds.database_url(url))
    try:
        async with engine.connect() as conn:
            root = (
                await conn.execute(
                    select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1)
                )
            ).scalar_one()
            officer = await conn.scalar(
                select(RoleGrant.member_id)
                .join(Member, Member.id == RoleGrant.member_id)
                .where(
                    RoleGrant.org_id == root,
                    RoleGrant.role == Role.ORGANISATION_OFFICER.value,
                    RoleGrant.revoked_at.is_(None),
                    Member.is_locked.is_(False),
                    Member.archived_on.is_(None),
                )
                .order_by(RoleGrant.id)
                .limit(1)
            )
            if officer is None:
                raise BenchError("the province has no organisation officer on its root")
            branches = [
                (int(r[0]), str(r[1]))
                for r in await conn.execute(
                    select(Org.id, Org.name)
                    .where(Org.kind == OrgKind.BRANCH, Org.is_active.is_(True))
                    .order_by(Org.id)
                )
            ]
    finally:
        await engine.dispose()
    return int(root), int(officer), branches


async def _phases(url: str, file: Path, root: int, officer: int, data_dir: Path) -> list[Any]:
    from app.core.config import Env, Settings
    from app.resources import Resources
    from app.services.imports.runs import APPLY_JOB, CHECK_JOB
    from app.worker import import_file

    settings = Settings(env=Env.TEST, database_url=url, data_dir=data_dir)
    resources = Resources.build(settings)
    phases: list[dict[str, Any]] = []
    try:
        for attempt in ("first import", "re-import"):
            import_id = await import_file.start(resources, file, root, officer)
            for phase, kind in (("dry run", CHECK_JOB), ("apply", APPLY_JOB)):
                if kind == APPLY_JOB:
                    await import_file.apply(resources, import_id, officer)
                result = await import_file.run_phase(resources, import_id, kind)
                rows = int(result.counts.get("rows", 0))
                phases.append(
                    {
                        "import": attempt,
                        "phase": phase,
                        "status": result.status,
                        "error": result.error,
                        "rows": rows,
                        "seconds": round(result.seconds, 2),
                        "rows_per_s": round(rows / result.seconds) if result.seconds else None,
                        "counts": result.counts,
                    }
                )
    finally:
        await resources.aclose()
    return phases


def _bars(phases: list[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    bars = []
    for p in phases:
        bars.append(
            {
                "name": f"{p['import']}: {p['phase']} ≤ {BAR_S:.0f} s",
                "target": "import",
                "measured": f"{p['seconds']:.1f} s ({p['rows_per_s'] or 0:,} rows/s), "
                f"{p['status']}",
                "threshold": f"≤ {BAR_S:.0f} s",
                "passed": p["seconds"] <= BAR_S and p["status"] != "failed" and p["rows"] == rows,
            }
        )
    first = [p for p in phases if p["import"] == "first import"]
    created = all(p["counts"].get("created") == rows for p in first)
    bars.append(
        {
            "name": "the first import creates every row",
            "target": "import",
            "measured": ", ".join(
                f"{p['phase']}: created {p['counts'].get('created')}" for p in first
            ),
            "threshold": f"{rows:,} created, none refused",
            "passed": created,
        }
    )
    again = [p for p in phases if p["import"] == "re-import"]
    unchanged = all(
        p["counts"].get("unchanged") == rows
        and not any(p["counts"].get(k) for k in ("created", "updated", "transferred", "rejected"))
        for p in again
    )
    bars.append(
        {
            "name": "a re-import of the same file changes nothing",
            "target": "import",
            "measured": ", ".join(
                f"{p['phase']}: unchanged {p['counts'].get('unchanged')}" for p in again
            ),
            "threshold": f"{rows:,} unchanged, nothing else",
            "passed": unchanged,
        }
    )
    return bars


def measure(ctx: Measure) -> dict[str, Any]:
    """The import part's section of latest.json."""
    from app.bench import dataset as ds
    from app.bench.report import NOISY_HOST_PCT

    rows = int(ctx.options.get("import_rows") or DEFAULT_ROWS)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    source = ds.database_url(ctx.database_url).database
    ctx.log(f"import: copying the province ({source}) to {source}{COPY_SUFFIX}…")
    copy_url, copy_s = asyncio.run(ds.clone_database(ctx.database_url, COPY_SUFFIX))
    try:
        ctx.log(f"import: copied in {copy_s:.1f} s (dropped at the end)")
        root, officer, branches = asyncio.run(_province(copy_url))
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            file = Path(tmp) / "danh-sach-dang-vien.xlsx"
            write_member_file(file, rows, branch_labels(branches))
            size_mb = file.stat().st_size / 1e6
            ctx.log(f"import: a {rows:,}-row file of {size_mb:.1f} MB, imported at org {root}")
            phases = asyncio.run(_phases(copy_url, file, root, officer, Path(tmp) / "data"))
    finally:
        asyncio.run(ds.drop_database(copy_url))
    bars = _bars(phases, rows)
    busy = ctx.machine.get("host_busy_pct_before_load")
    section = {
        "schema": 2,
        "generated_by": "handbook bench",
        "part": "import",
        "settings": {**ctx.settings, "rows": rows, "bar_s": BAR_S},
        "code": ctx.code,
        "machine": {
            **ctx.machine,
            # The machine is shared: figures taken under a high load are not the code's alone.
            "load_avg_1m_before": round(load_before, 1),
            "load_avg_1m_after": round(os.getloadavg()[0], 1),
        },
        "dataset": {
            "members": ctx.members,
            "branches": len(branches),
            "imported_at_org": root,
            "imported_as_member": officer,
            "file_mb": round(size_mb, 1),
            "copy_seconds": round(copy_s, 1),
        },
        "phases": phases,
        "bars": bars,
        "pass": all(b["passed"] for b in bars),
        "noisy": busy is not None and busy > NOISY_HOST_PCT,
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    _print(section)
    return section


def _print(section: dict[str, Any]) -> None:
    table = Table("import", "phase", "status", "rows", "s", "rows/s", "counts", title="import")
    for p in section["phases"]:
        counts = ", ".join(f"{k} {v}" for k, v in p["counts"].items() if k != "rows")
        table.add_row(
            p["import"],
            p["phase"],
            p["status"],
            f"{p['rows']:,}",
            f"{p['seconds']:.1f}",
            f"{p['rows_per_s'] or 0:,}",
            counts,
        )
    Console(stderr=True, width=160).print(table)


def render(section: dict[str, Any]) -> str:
    """The import section as Markdown (docs/benchmarks/README.md)."""
    settings, machine = section.get("settings") or {}, section.get("machine") or {}
    dataset = section.get("dataset") or {}
    lines = [
        f"{settings.get('date')}: {settings.get('rows', 0):,} rows into "
        f"{dataset.get('members', 0):,} members ({dataset.get('branches', 0):,} branches), "
        f"load average {machine.get('load_avg_1m_before')} before, "
        f"{machine.get('load_avg_1m_after')} after.",
        "",
        "| import | phase | status | rows | s | rows/s | created | updated | transferred | "
        "unchanged | rejected | missing |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in section.get("phases") or []:
        c = p.get("counts") or {}
        lines.append(
            f"| {p['import']} | {p['phase']} | {p['status']} | {p['rows']:,} | "
            f"{p['seconds']:.1f} | {p['rows_per_s'] or 0:,} | "
            + " | ".join(
                str(c.get(k, 0))
                for k in ("created", "updated", "transferred", "unchanged", "rejected", "missing")
            )
            + " |"
        )
    lines += ["", "| bar | measured | threshold | result |", "|---|---|---|---|"]
    for bar in section.get("bars") or []:
        result = "PASS" if bar["passed"] else "**FAIL**"
        lines.append(f"| {bar['name']} | {bar['measured']} | {bar['threshold']} | {result} |")
    return "\n".join(lines)
