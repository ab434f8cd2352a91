"""Reading a member spreadsheet row by row (.xlsx through openpyxl in read-only mode, .csv through
the standard library), in constant memory whatever the file's length.

Everything here is synchronous and CPU-bound: the worker runs it in a thread, a batch at a time.
A file that cannot be used as a whole raises `FileProblem` (its code and Vietnamese detail end up
on the import); problems of single rows are decided in `checking.py`.
"""

from __future__ import annotations

import csv
import re
import zipfile
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


_FORMULA_RE: Final = re.compile(rb"<(?:\w+:)?f[\s>/]")
_SHEET_RE: Final = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"")
_REL_RE: Final = re.compile(rb"<Relationship\b[^>]*>")
_ATTR_RE: Final = re.compile(rb"""(\w+)="([^"]*)\"""")
SCAN_BLOCK: Final = 1024 * 1024


def _first_sheet_part(archive: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (the one that is read)."""
    workbook = archive.read("xl/workbook.xml")
    found = _SHEET_RE.search(workbook)
    if found is None:
        return None
    rels = archive.read("xl/_rels/workbook.xml.rels")
    for element in _REL_RE.findall(rels):
        attrs = dict(_ATTR_RE.findall(element))
        if attrs.get(b"Id") == found.group(1):
            target = attrs.get(b"Target", b"").decode()
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _has_formulas(path: Path) -> bool:
    """Whether the first sheet holds a formula, from its XML streamed through (constant
    memory): values are read without them, so a formula's cached result could be stale."""
    with zipfile.ZipFile(path) as archive:
        part = _first_sheet_part(archive)
        if part is None:
            return False
        with archive.open(part) as sheet:
            tail = b""
            while block := sheet.read(SCAN_BLOCK):
                if _FORMULA_RE.search(tail + block):
                    return True
                tail = block[-16:]
    return False


def _rows_xlsx(path: Path) -> Iterator[tuple[int, list[Any]]]:
    from python_calamine import CalamineWorkbook

    try:
        if _has_formulas(path):
            raise FileProblem(
                "import.formula",
                "Tệp chứa công thức: hãy dán giá trị (Paste Values) rồi tải lên lại.",
            )
        workbook = CalamineWorkbook.from_path(str(path))
        if not workbook.sheet_names:
            raise FileProblem("import.empty", "Tệp không có trang tính nào.")
        sheet = workbook.get_sheet_by_index(0)
        first_row = (sheet.start or (0, 0))[0] + 1
        first_col = (sheet.start or (0, 0))[1]
        for index, values in enumerate(sheet.iter_rows()):
            cells = [None] * first_col + list(values[: MAX_COLUMNS - first_col])
            yield first_row + index, cells
    except FileProblem:
        raise
    except Exception as exc:  # the reader raises many kinds on a broken file
        raise FileProblem("import.unreadable", "Không đọc được tệp Excel (tệp hỏng).") from exc


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

    found = False
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
        found = True
        yield RawRow(number=number, cells=cells)
    if not found:
        raise FileProblem(
            "import.empty", "Tệp chỉ có dòng tiêu đề, không có dòng dữ liệu đảng viên nào."
        )


def cell_text(value: Any) -> str:
    """A cell as the report shows it."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _cell_text(value)
