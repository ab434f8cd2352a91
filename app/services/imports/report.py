"""Spreadsheets written for people: the import template, an import's report, roster exports.

All are written with openpyxl in write-only mode (rows streamed to a temporary file), in a
thread: the callers run them through `anyio.to_thread`.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook

from app.services.imports.columns import COLUMNS
from app.services.spreadsheets import header, safe

CSV_TYPE: Final = "text/csv; charset=utf-8"
HEADERS: Final = tuple(column.header for column in COLUMNS)

SUMMARY_LABELS: Final = {
    "rows": "Số dòng dữ liệu",
    "created": "Thêm mới",
    "updated": "Cập nhật",
    "transferred": "Chuyển sinh hoạt từ chi bộ khác đến",
    "unchanged": "Không thay đổi",
    "rejected": "Bị từ chối",
    "missing": "Đảng viên của tổ chức không có trong tệp",
}


def template_xlsx() -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh sách đảng viên")
    header(sheet, HEADERS)
    sheet.append([column.example for column in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerow([column.example for column in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def write_report(
    path: Path,
    *,
    summary: dict[str, Any],
    title: str,
    rejected: Iterable[tuple[int, dict[str, str], list[dict[str, Any]]]],
    missing: Iterable[tuple[str | None, str, str]],
) -> None:
    """The report: a summary sheet, the refused rows with their cells and their problems beside
    them, and the members of the org that the file does not list."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Tổng hợp")
    sheet.append([title])
    for key, label in SUMMARY_LABELS.items():
        if key in summary:
            sheet.append([label, summary[key]])
    rows = workbook.create_sheet("Dòng bị từ chối")
    header(rows, ["Dòng", *HEADERS, "Lỗi"])
    for number, cells, problems in rejected:
        text = "; ".join(
            f"{p['header']}: {p['message']}" if p.get("header") else str(p["message"])
            for p in problems
        )
        rows.append([number, *(safe(cells.get(c.key, "")) for c in COLUMNS), text])
    absent = workbook.create_sheet("Không có trong tệp")
    header(absent, ["Số thẻ đảng viên", "Họ và tên", "Chi bộ"])
    for card, name, branch in missing:
        absent.append([safe(card or ""), safe(name), safe(branch)])
    workbook.save(path)


class RosterWriter:
    """An export file written a chunk of members at a time."""

    def __init__(self, fmt: str, directory: Path | None) -> None:
        self.fmt = fmt
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finish()
            dir=directory, prefix="export-", suffix=f".{fmt}", delete=False
        )
        self.path = Path(handle.name)
        if fmt == "csv":
            self._text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._text)
            self._csv.writerow(HEADERS)
        else:
            handle.close()
            self._book = Workbook(write_only=True)
            self._sheet = self._book.create_sheet("Danh sách đảng viên")
            header(self._sheet, HEADERS)

    def add(self, rows: list[list[Any]]) -> None:
        for row in rows:
            values = [safe(v) for v in row]
            if self.fmt == "csv":
                self._csv.writerow(values)
            else:
                self._sheet.append(values)

    def finish(self) -> Path:
        if self.fmt == "csv":
            self._text.close()
        else:
            self._book.save(self.path)
        return self.path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
