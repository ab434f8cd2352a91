"""Spreadsheets written for people (.xlsx): the pieces every report shares.

Workbooks are write-only (rows streamed), headers bold, and text a spreadsheet would run as a
formula is written as text. Large files are written in a thread (`anyio.to_thread`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BOLD = Font(bold=True)


def header(sheet: WriteOnlyWorksheet, values: Sequence[str]) -> None:
    """A bold first row."""
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = _BOLD
        cells.append(cell)
    sheet.append(cells)


def safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is written as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not value[1:2].isdigit():
        return "'" + value
    return value


def to_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
