"""QR codes (segno, BSD licence) for app links: PNG or SVG, built from the deployment's public
base URL (`PUBLIC_BASE_URL`), never from the address a request happened to use."""

from __future__ import annotations

import io
from enum import StrEnum

import segno


class QrFormat(StrEnum):
    SVG = "svg"
    PNG = "png"


MEDIA_TYPES = {QrFormat.SVG: "image/svg+xml", QrFormat.PNG: "image/png"}


def qr_code(link: str, fmt: QrFormat, *, scale: int = 8) -> bytes:
    code = segno.make(link, error="m", micro=False)
    out = io.BytesIO()
    if fmt is QrFormat.SVG:
        code.save(out, kind="svg", scale=scale, xmldecl=False, title="Mã QR")
    else:
        code.save(out, kind="png", scale=scale)
    return out.getvalue()
