"""`handbook import FILE --org ID`, run for real in a subprocess on the demo province: the dry
run's counts, then the apply's, and the members created (the dry run alone is the API's tests')."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.imports_helpers import xlsx_file
from tests.test_cli import CliDatabase, cli_database, count, run_cli

__all__ = ["cli_database"]  # the fixture, used here


async def test_handbook_import_checks_then_applies(
    cli_database: CliDatabase, tmp_path: Path
) -> None:
    url = cli_database.url
    assert (await run_cli("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)).returncode == 0
    assert (await run_cli("seed", cwd=tmp_path, DATABASE_URL=url)).returncode == 0
    async with cli_database.engine.connect() as conn:
        ward = (await conn.execute(text("SELECT id FROM org WHERE code = 'LV-HB'"))).scalar_one()
    rows = [
        [f"08.{n:06d}", f"Đinh Văn Nhập {n}", "", "Nam", f"0978{n:06d}", "Chi bộ Khu phố 2",
         "Chính thức", "", "", ""]
        for n in range(3)
    ]  # fmt: skip
    file = tmp_path / "Danh sách.xlsx"
    file.write_bytes(xlsx_file([*rows, ["08.000001", "Trùng Thẻ", "", "", "", "Chi bộ Khu phố 2"]]))
    imported = "SELECT count(*) FROM member WHERE party_card_number LIKE '08.%'"

    applied = await run_cli("import", str(file), "--org", str(ward), cwd=tmp_path, DATABASE_URL=url)
    assert applied.returncode == 0, applied.output
    # The dry run, then the apply, each with its counts.
    assert "checked" in applied.output
    assert "created 3" in applied.output
    assert "rejected 1" in applied.output
    assert "applied" in applied.output
    assert await count(cli_database.engine, imported) == 3
    # The demo's two imports, and this one.
    assert await count(cli_database.engine, "SELECT count(*) FROM member_import") == 2 + 1
