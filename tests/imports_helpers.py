"""Member files for import tests: real .xlsx (openpyxl) and .csv, the upload and the worker."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlsplit

import httpx
from openpyxl import Workbook, load_workbook

from app.resources import Resources
from app.worker.runner import Worker

HEADERS = [
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
]


def xlsx_file(
    rows: list[list[Any]], headers: list[Any] | None = None, title: bool = False
) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    if title:
        sheet.append(["DANH SÁCH ĐẢNG VIÊN"])
        sheet.append([])
    sheet.append(headers or HEADERS)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_file(
    rows: list[list[Any]],
    headers: list[Any] | None = None,
    *,
    delimiter: str = ",",
    bom: bool = False,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(headers or HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig" if bom else "utf-8")


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, filename: str
) -> int:
    response = await client.post(
        "/api/v1/uploads",
        params={"purpose": "import", "filename": filename},
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def start_import(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    org_id: int,
    data: bytes,
    filename: str = "danh-sach.xlsx",
    *,
    allow_transfers: bool = False,
) -> dict[str, Any]:
    upload_id = await upload(client, headers, data, filename)
    response = await client.post(
        f"/api/v1/orgs/{org_id}/imports",
        json={"upload_id": upload_id, "allow_transfers": allow_transfers},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_jobs(resources: Resources) -> int:
    worker = Worker(resources, worker_id="test-imports", concurrency=1)
    worker.state_write_delays = (0.01, 0.01)
    return await worker.run_until_idle()


async def rejected_codes(
    client: httpx.AsyncClient, headers: dict[str, str], import_id: int
) -> dict[int, list[str]]:
    """The refused rows of the import's current phase: {row: [problem codes]}."""
    response = await client.get(f"/api/v1/imports/{import_id}/rejected-rows", headers=headers)
    assert response.status_code == 200, response.text
    return {i["row"]: [p["code"] for p in i["problems"]] for i in response.json()["items"]}


async def run_import(
    client: httpx.AsyncClient,
    resources: Resources,
    headers: dict[str, str],
    org_id: int,
    data: bytes,
    *,
    allow_transfers: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dry run, then the apply: the import as checked, and as applied."""
    created = await start_import(client, headers, org_id, data, allow_transfers=allow_transfers)
    await run_jobs(resources)
    checked = await get_import(client, headers, created["id"])
    assert checked["status"] == "checked", checked
    applied = await client.post(f"/api/v1/imports/{created['id']}/apply", headers=headers)
    assert applied.status_code == 202, applied.text
    await run_jobs(resources)
    done = await get_import(client, headers, created["id"])
    assert done["status"] == "applied", done
    return checked, done


async def get_import(
    client: httpx.AsyncClient, headers: dict[str, str], import_id: int
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/imports/{import_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def download(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(urlsplit(url).path + "?" + urlsplit(url).query)
    assert response.status_code == 200, response.text
    return response.content


def sheet_rows(data: bytes, sheet: str | None = None) -> list[list[Any]]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    ws = workbook[sheet] if sheet else workbook.worksheets[0]
    return [list(row) for row in ws.iter_rows(values_only=True)]
