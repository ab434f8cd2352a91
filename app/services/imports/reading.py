"""Reading a member spreadsheet row by row (.xlsx through openpyxl in read-only mode, .csv through
the standard library), in constant memory whatever the file's length.

Everything here is synchronous and CPU-bound: the worker runs it in a thread, a batch at a time.
A file that cannot be used as a whole raises `FileProblem` (its code and Vietnamese detail end up
on the import); problems of single rows are decided in `checking.py`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from app.services.imports.columns import BY_KEY, COLUMNS, header_key

HEADER_SEARCH_ROWS: Final = 20  # the header row is among the first rows (titles may come first)
MAX_COLUMNS: Final = 64
MAX_CELL_CHARS: Final = 1000


class FileProblem(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RawRow:
    number: int  # the row's number in the file (1-based, as a spreadsheet shows it)
    cells: dict[str, Any]  # column key → the cell's value (str, int, float, date, datetime)


@dataclass(frozen=True, slots=True)
class Layout:
    header_row: int
    positions: dict[str, int]  # column key → index in the row


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def find_layout(rows: list[tuple[int, list[Any]]], *, branch_required: bool) -> Layout:
    """The header row (the first with at least two known columns) and where each column is."""
    for number, cells in rows:
        keys = [header_key(cell) for cell in cells[:MAX_COLUMNS]]
        known = [k for k in keys if k is not None]
        if len(known) < 2:
            continue
        positions: dict[str, int] = {}
        for index, key in enumerate(keys):
            if key is None:
                continue
            if key in positions:
                raise FileProblem(
                    "import.duplicate_column",
                    f"Cột “{BY_KEY[key].header}” xuất hiện hai lần ở dòng tiêu đề {number}.",
                )
            positions[key] = index
        missing = [
            c.header
            for c in COLUMNS
            if c.key not in positions and (c.required or (c.key == "branch" and branch_required))
        ]
        if missing:
            raise FileProblem(
                "import.missing_columns",
                "Tệp thiếu cột bắt buộc: " + ", ".join(f"“{m}”" for m in missing) + ".",
            )
        return Layout(header_row=number, positions=positions)
    raise FileProblem(
        "import.no_header",
        "Không tìm thấy dòng tiêu đề (Số thẻ đảng viên, Họ và tên, …) trong "
        f"{HEADER_SEARCH_ROWS} dòng đầu của tệp. Hãy dùng tệp mẫu.",
    )


def _rows_xlsx(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise FileProblem("import.unreadable", "Không đọc được tệp Excel (tệp hỏng).") from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise FileProblem("import.empty", "Tệp không có trang tính nào.")
        for number, values in enumerate(
            sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
        ):
            yield number, list(values)
    except FileProblem:
        raise
    except Exception as exc:  # a broken part found while reading
        raise FileProblem("import.unreadable", "Không đọc được tệp Excel (tệp hỏng).") from exc
    finally:
        workbook.close()


def _rows_csv(path: Path) -> Iterator[tuple[int, list[Any]]]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        first = handle.readline()
        delimiter = max(",;\t", key=first.count)
        handle.seek(0)
        # utf-8-sig drops the BOM again after the seek back to the start.
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            for number, values in enumerate(reader, start=1):
                yield number, values[:MAX_COLUMNS]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FileProblem(
                "import.unreadable", "Tệp CSV không hợp lệ (bảng mã phải là UTF-8)."
            ) from exc


def read_rows(path: Path, kind: str, *, branch_required: bool) -> Iterator[RawRow]:
    """The file's data rows after the header, with cells by column key; blank rows skipped.
    Raises `FileProblem` for a file that cannot be imported as a whole (formulas included)."""
    source = _rows_xlsx(path) if kind == "xlsx" else _rows_csv(path)
    head: list[tuple[int, list[Any]]] = []
    for item in source:
        head.append(item)
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    if not any(any(_cell_text(c).strip() for c in cells) for _, cells in head):
        raise FileProblem("import.empty", "Tệp không có dữ liệu.")
    layout = find_layout(head, branch_required=branch_required)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        yield from head
        yield from source

    for number, values in rows():
        if number <= layout.header_row:
            continue
        cells: dict[str, Any] = {}
        for key, index in layout.positions.items():
            value = values[index] if index < len(values) else None
            if isinstance(value, str):
                if value.startswith("="):
                    raise FileProblem(
                        "import.formula",
                        f"Dòng {number}, cột “{BY_KEY[key].header}” chứa công thức: hãy dán "
                        "giá trị (Paste Values) rồi tải lên lại.",
                    )
                value = value.strip()[:MAX_CELL_CHARS]
            cells[key] = value
        if all(v is None or v == "" for v in cells.values()):
            continue
        yield RawRow(number=number, cells=cells)


def cell_text(value: Any) -> str:
    """A cell as the report shows it."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _cell_text(value)
