"""Tiny but real files of every type uploads accept (and some they must refuse), made in memory.

Each builder returns bytes that the format's magic numbers (and, for Office files, the zip's
parts list) identify correctly: enough for type checks and storage round trips. Route tests of
documents, media and imports can use them too.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
XLSM_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"


def pdf(text: str = "Nghị quyết") -> bytes:
    body = f"BT /F1 12 Tf 72 720 Td ({text.encode('ascii', 'replace').decode()}) Tj ET".encode()
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
        + f"4 0 obj << /Length {len(body)} >> stream\n".encode()
        + body
        + b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + b"\xff\xdb\x00\x43\x00" + bytes(64) + b"\xff\xd9"


def webp() -> bytes:
    payload = b"WEBPVP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def mp3(frames: int = 4) -> bytes:
    id3 = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    frame = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    return id3 + frame * frames


def aac(frames: int = 4) -> bytes:
    frame = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(9)  # an ADTS header and a silent payload
    return frame * frames


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body


def mp4(payload: bytes = b"") -> bytes:
    mdat = struct.pack(">I", 8 + len(payload)) + b"mdat" + payload
    return _ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41") + b"\x00\x00\x00\x08free" + mdat


def m4a() -> bytes:
    return _ftyp(b"M4A ", b"M4A ", b"mp42", b"isom") + b"\x00\x00\x00\x08free" + bytes(64)


def _content_types(main_part: str, main_type: str, *extra: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/>'
        + "".join(extra)
        + "</Types>"
    ).encode()


def office_zip(main_part: str, main_type: str, members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _content_types(main_part, main_type))
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            f'Target="{main_part}"/></Relationships>',
        )
        archive.writestr(main_part, "<?xml version='1.0'?><document>Nghị quyết</document>")
        for name, data in (members or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx() -> bytes:
    return office_zip("word/document.xml", DOCX_MAIN, {"word/styles.xml": b"<styles/>"})


def xlsx() -> bytes:
    return office_zip(
        "xl/workbook.xml",
        XLSX_MAIN,
        {"xl/worksheets/sheet1.xml": b"<worksheet><sheetData/></worksheet>"},
    )


def pptx() -> bytes:
    return office_zip("ppt/presentation.xml", PPTX_MAIN, {"ppt/slides/slide1.xml": b"<sld/>"})


def docm() -> bytes:
    return office_zip("word/document.xml", DOCM_MAIN, {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})


def xlsm() -> bytes:
    return office_zip("xl/workbook.xml", XLSM_MAIN, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"})


def docx_with_hidden_macro() -> bytes:
    """Declared as a plain .docx, but carrying a VBA project."""
    return office_zip("word/document.xml", DOCX_MAIN, {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "không phải tài liệu")
    return buffer.getvalue()


def declare_huge_sizes(data: bytes, size: int = 0xFFFFFFF0) -> bytes:
    """The same zip, its central directory claiming each member inflates to `size` bytes."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        out[at + 24 : at + 28] = struct.pack("<I", size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def xlsx_bomb() -> bytes:
    """An .xlsx whose sheet inflates 20 MiB of zeros out of a few KiB (ratio ~1000)."""
    return office_zip(
        "xl/workbook.xml", XLSX_MAIN, {"xl/worksheets/sheet1.xml": bytes(20 * 1024 * 1024)}
    )


def exe() -> bytes:
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200) + b"PE\x00\x00"
    )


def svg_with_script() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(document.cookie)</script></svg>"
    )


MEMBERS_CSV = "Số thẻ đảng viên,Họ và tên,Ngày sinh\n079123456,Nguyễn Văn An,1980-05-01\n"


def csv_utf8(bom: bool = False) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + MEMBERS_CSV.replace("\n", "\r\n").encode()


def csv_windows_1258() -> bytes:
    # Windows-1258 writes Vietnamese with combining tone marks, in bytes that are not UTF-8.
    return "Ho va ten,Ghi chú\nNguyên,Đảng viên\n".encode("cp1258", errors="replace")


def csv_utf16() -> bytes:
    return MEMBERS_CSV.encode("utf-16")
