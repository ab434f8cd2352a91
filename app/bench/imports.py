"""`handbook bench-import`: a generated member file (.xlsx, 50,000 rows by default) imported
into a generated province on PostgreSQL, through the same handlers the worker runs.

Measured (DESIGN.md §5, member import bar: a 50,000-row spreadsheet in ≤ 60 s with a row-level
report), each phase separately: the dry run, the apply (all rows new), and a re-import of the
same file (dry run and apply), which must change nothing. Rows/s = data rows ÷ the phase's
seconds, from the job's start to its report stored. Results go to
`docs/benchmarks/import.json` (this part's own file) and to the console.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.bench.push import _ensure_database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/handbook_bench_import"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "benchmarks" / "import.json"
BAR_S = 60.0

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


def write_member_file(
    path: Path, rows: int, branches: list[str], seed: int = 14, prefix: str = "6"
) -> None:
    """A national-export-like .xlsx of `rows` new members spread over `branches`."""
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


async def _province(url: str, members: int, console: Console) -> tuple[int, list[str]]:
    from sqlalchemy import func, insert, select

    from app.core.config import Env, Settings
    from app.core.db import create_engine
    from app.models import Member, Org, OrgKind, Role, RoleGrant
    from app.services.seed import seed_generated

    engine = create_engine(Settings(env=Env.TEST, database_url=url), null_pool=True)
    try:
        async with engine.connect() as conn:
            have = int(await conn.scalar(select(func.count()).select_from(Member)) or 0)
        if have == 0:
            started = asyncio.get_running_loop().time()
            await seed_generated(engine, members=members)
            elapsed = asyncio.get_running_loop().time() - started
            console.print(f"seeded {members:,} members in {elapsed:.0f} s")
        async with engine.begin() as conn:
            root = int(
                await conn.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id))
                or 0
            )
            admins = select(RoleGrant.id).where(RoleGrant.role == Role.DEPLOYMENT_ADMIN.value)
            if await conn.scalar(admins.limit(1)) is None:
                # The import is made as a deployment admin (the first member, on the root).
                first = await conn.scalar(select(func.min(Member.id)))
                await conn.execute(
                    insert(RoleGrant).values(
                        member_id=first, org_id=root, role=Role.DEPLOYMENT_ADMIN.value
                    )
                )
            names = list(
                (
                    await conn.scalars(
                        select(Org.name).where(Org.kind == OrgKind.BRANCH).order_by(Org.id)
                    )
                ).all()
            )
        return root, names
    finally:
        await engine.dispose()


async def _run(url: str, file: Path, root: int, data_dir: Path) -> list[dict[str, Any]]:
    from app.core.config import Env, Settings
    from app.resources import Resources
    from app.services.imports.runs import APPLY_JOB, CHECK_JOB
    from app.worker import import_file

    settings = Settings(env=Env.TEST, database_url=url, data_dir=data_dir)
    resources = Resources.build(settings)
    phases: list[dict[str, Any]] = []
    try:
        for attempt in ("first import", "re-import"):
            import_id = await import_file.start(resources, file, root, None)
            for phase, kind in (("dry run", CHECK_JOB), ("apply", APPLY_JOB)):
                if kind == APPLY_JOB:
                    await import_file.apply(resources, import_id, None)
                result = await import_file.run_phase(resources, import_id, kind)
                rows = int(result.counts.get("rows", 0))
                phases.append(
                    {
                        "import": attempt,
                        "phase": phase,
                        "status": result.status,
                        "rows": rows,
                        "seconds": round(result.seconds, 2),
                        "rows_per_s": round(rows / result.seconds) if result.seconds else None,
                        "counts": result.counts,
                        "passed": result.seconds <= BAR_S and result.status != "failed",
                    }
                )
    finally:
        await resources.aclose()
    return phases


def bench_import(
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL database of its own (created if missing).")
    ] = DEFAULT_DATABASE_URL,
    members: Annotated[
        int, typer.Option(help="Members of the generated province before the import.", min=100)
    ] = 100_000,
    rows: Annotated[int, typer.Option(help="Data rows in the generated file.", min=10)] = 50_000,
    output: Annotated[Path, typer.Option(help="Where the JSON goes.")] = DEFAULT_OUTPUT,
    reset: Annotated[bool, typer.Option(help="Drop and rebuild the bench database.")] = True,
) -> None:
    """Import benchmark: dry run and apply of a generated ROWS-row .xlsx into a generated
    province, then the same file again (nothing may change); writes docs/benchmarks/import.json."""
    from app.core import migrate

    console = Console(stderr=True, soft_wrap=True)
    asyncio.run(_ensure_database(database_url, reset=reset))
    migrate.upgrade(database_url)
    root, branches = asyncio.run(_province(database_url, members, console))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        file = Path(tmp) / "danh-sach-dang-vien.xlsx"
        write_member_file(file, rows, branches)
        console.print(f"{rows:,}-row file: {file.stat().st_size / 1e6:.1f} MB")
        phases = asyncio.run(_run(database_url, file, root, Path(tmp) / "data"))
    table = Table("import", "phase", "status", "rows", "s", "rows/s", "counts")
    for p in phases:
        counts = ", ".join(f"{k} {v}" for k, v in p["counts"].items() if k != "rows")
        table.add_row(
            p["import"],
            p["phase"],
            p["status"],
            f"{p['rows']:,}",
            f"{p['seconds']:.1f}",
            f"{p['rows_per_s']:,}",
            counts,
        )
    console.print(table)
    reimport = [p for p in phases if p["import"] == "re-import"]
    unchanged = all(p["counts"].get("unchanged") == rows for p in reimport)
    report = {
        "part": "import",
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "command": "handbook bench-import " + " ".join(sys.argv[2:]),
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            # The machine is shared: figures taken under a high load are not the code's.
            "load_avg_1m_before": round(load_before, 1),
            "load_avg_1m_after": round(os.getloadavg()[0], 1),
        },
        "province_members": members,
        "rows": rows,
        "bar_s": BAR_S,
        "phases": phases,
        "reimport_unchanged": unchanged,
        "passed": unchanged and all(p["passed"] for p in phases),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {output}")
    if not report["passed"]:
        raise typer.Exit(1)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
