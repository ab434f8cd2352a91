"""Telling a file's type by its content: magic numbers (through `filetype`), the parts list of
Office zip containers, and for text a full UTF-8 check. Names and declared types play no part."""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from filetype.types import archive, audio, image, video  # type: ignore[import-untyped]

MiB: Final = 1024 * 1024
HEAD_BYTES: Final = 8192  # what the type is decided from (filetype reads the same)
MAX_TEXT_LINE: Final = 64 * 1024  # characters in one line of a CSV or text file
# Office files are zip archives: bounds on what a reader (openpyxl, the text extractor) would have
# to inflate, checked from the archive's directory before anything is extracted.
ZIP_MAX_MEMBERS: Final = 10_000
ZIP_MAX_UNCOMPRESSED: Final = 512 * MiB
ZIP_MAX_RATIO: Final = 200  # uncompressed / compressed, for members above 1 MiB
ZIP_MAX_CONTENT_TYPES: Final = MiB


class FileKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    PPTX = "pptx"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    MP3 = "mp3"
    M4A = "m4a"
    AAC = "aac"
    MP4 = "mp4"
    CSV = "csv"
    TEXT = "txt"


@dataclass(frozen=True, slots=True)
class KindInfo:
    content_type: str
    extension: str
    label: str  # how the accepted types are named to people
    aliases: tuple[str, ...] = ()  # other content types clients send for it


KINDS: Final[dict[FileKind, KindInfo]] = {
    FileKind.PDF: KindInfo("application/pdf", "pdf", "PDF"),
    FileKind.DOCX: KindInfo(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        "Word (.docx)",
    ),
    FileKind.XLSX: KindInfo(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "Excel (.xlsx)"
    ),
    FileKind.PPTX: KindInfo(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
        "PowerPoint (.pptx)",
    ),
    FileKind.JPEG: KindInfo("image/jpeg", "jpg", "JPEG", ("image/jpg", "image/pjpeg")),
    FileKind.PNG: KindInfo("image/png", "png", "PNG"),
    FileKind.WEBP: KindInfo("image/webp", "webp", "WebP"),
    FileKind.GIF: KindInfo("image/gif", "gif", "GIF"),
    FileKind.MP3: KindInfo("audio/mpeg", "mp3", "MP3", ("audio/mp3", "audio/mpeg3")),
    FileKind.M4A: KindInfo("audio/mp4", "m4a", "M4A", ("audio/x-m4a", "audio/m4a")),
    FileKind.AAC: KindInfo("audio/aac", "aac", "AAC", ("audio/x-aac", "audio/aacp")),
    FileKind.MP4: KindInfo("video/mp4", "mp4", "MP4"),
    FileKind.CSV: KindInfo(
        "text/csv", "csv", "CSV (UTF-8)", ("application/csv", "text/comma-separated-values")
    ),
    FileKind.TEXT: KindInfo("text/plain", "txt", "văn bản thuần (UTF-8)"),
}


ZIP = "zip"
# Order matters: M4A before MP4 (an M4A also lists the generic MP4 brands).
_MATCHERS: Final[tuple[tuple[Any, FileKind | str], ...]] = (
    (archive.Pdf(), FileKind.PDF),
    (image.Jpeg(), FileKind.JPEG),
    (image.Png(), FileKind.PNG),
    (image.Webp(), FileKind.WEBP),
    (image.Gif(), FileKind.GIF),
    (audio.M4a(), FileKind.M4A),
    (audio.Mp3(), FileKind.MP3),
    (audio.Aac(), FileKind.AAC),
    (video.Mp4(), FileKind.MP4),
    (archive.Zip(), ZIP),
)
OFFICE_KINDS: Final = frozenset({FileKind.DOCX, FileKind.XLSX, FileKind.PPTX})
TEXT_KINDS: Final = frozenset({FileKind.CSV, FileKind.TEXT})


def sniff(head: bytes) -> FileKind | str | None:
    """The kind the first bytes announce (`"zip"` for a zip container), or None."""
    buf = bytearray(head[:HEAD_BYTES])
    for matcher, kind in _MATCHERS:
        with contextlib.suppress(IndexError, ValueError):  # some matchers index short input
            if matcher.match(buf):
                return kind
    return None


# The main part of each Office format, by its content type in [Content_Types].xml.
_OFFICE_MAIN: Final[dict[str, FileKind | None]] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": (
        FileKind.DOCX
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": FileKind.XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": (
        FileKind.PPTX
    ),
    # Macro-enabled, binary and template variants: refused.
    "application/vnd.ms-word.document.macroenabled.main+xml": None,
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": None,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": None,
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": None,
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": None,
    "application/vnd.ms-excel.template.macroenabled.main+xml": None,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": None,
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": None,
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": None,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": None,
}
_MACRO_MARKERS: Final = ("vbaproject", "macroenabled", "vbadata", "activex")
_ELEMENT_RE = re.compile(rb"<(?:\w+:)?(Override|Default)\b([^>]*)>")
_ATTR_RE = re.compile(rb"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class OfficeFileRefused(Exception):
    """An Office container that must not be accepted, with the reason to tell the person."""


def inspect_office_zip(path: Path) -> FileKind:
    """DOCX, XLSX or PPTX from the zip's directory and its [Content_Types].xml, without
    extracting anything but that one small part; `OfficeFileRefused` for anything else."""
    try:
        with zipfile.ZipFile(path) as archive_file:
            members = archive_file.infolist()
            if len(members) > ZIP_MAX_MEMBERS:
                raise OfficeFileRefused("Tệp nén có quá nhiều thành phần.")
            if sum(m.file_size for m in members) > ZIP_MAX_UNCOMPRESSED or any(
                m.file_size > MiB and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1)
                for m in members
            ):
                raise OfficeFileRefused("Tệp có dấu hiệu là bom nén (zip bomb).")
            names = {m.filename for m in members}
            if any(marker in name.lower() for name in names for marker in _MACRO_MARKERS):
                raise OfficeFileRefused("Tệp chứa macro hoặc điều khiển ActiveX.")
            try:
                types_member = archive_file.getinfo("[Content_Types].xml")
            except KeyError:
                raise OfficeFileRefused("Tệp nén (.zip) không phải tài liệu Office.") from None
            if types_member.file_size > ZIP_MAX_CONTENT_TYPES:
                raise OfficeFileRefused("Tệp Office không hợp lệ.")
            content_types = archive_file.read(types_member)
    except OfficeFileRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise OfficeFileRefused("Tệp Office bị hỏng hoặc được mã hóa.") from exc
    except (OSError, EOFError, ValueError) as exc:
        raise OfficeFileRefused("Tệp Office bị hỏng.") from exc
    return _office_kind(content_types, names)


def _office_kind(content_types: bytes, names: set[str]) -> FileKind:
    found: set[FileKind] = set()
    for element, raw_attrs in _ELEMENT_RE.findall(content_types):
        attrs = {
            name.decode().lower(): (double or single).decode(errors="replace")
            for name, double, single in _ATTR_RE.findall(raw_attrs)
        }
        content_type = attrs.get("contenttype", "").strip().lower()
        if any(marker in content_type for marker in _MACRO_MARKERS):
            raise OfficeFileRefused("Tệp chứa macro (ví dụ .docm, .xlsm).")
        if element != b"Override" or content_type not in _OFFICE_MAIN:
            continue
        kind = _OFFICE_MAIN[content_type]
        if kind is None:
            raise OfficeFileRefused("Tệp Office có macro hoặc là tệp mẫu (.docm, .xlsm, .dotx…).")
        if attrs.get("partname", "").lstrip("/") in names:
            found.add(kind)
    if len(found) != 1:
        raise OfficeFileRefused("Tệp nén (.zip) không phải tài liệu Office hợp lệ.")
    return found.pop()


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_LEGACY_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class TextScan:
    """Follows the bytes of a would-be text file: valid UTF-8 (a BOM allowed), no NUL or other
    control characters than tab, CR, LF and form feed, lines of reasonable length."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.utf8 = True
        self.textual = True
        self.longest = 0  # characters in the longest line so far
        self._line = 0  # characters in the current line so far
        self._first: list[str] = []  # the first line, while it is being read
        self._first_done = False

    @property
    def active(self) -> bool:
        return self.utf8 and self.textual and self.longest <= MAX_TEXT_LINE

    def feed(self, block: bytes, *, final: bool = False) -> None:
        if not self.active:
            return
        try:
            text = self._decoder.decode(block, final)
        except UnicodeDecodeError:
            self.utf8 = False
            return
        if _CONTROL_RE.search(text):
            self.textual = False
            return
        lines = text.split("\n")
        if not self._first_done:
            self._first.append(lines[0])
            self._first_done = len(lines) > 1
        self.longest = max(self.longest, self._line + len(lines[0]), *map(len, lines[1:]))
        self._line = len(lines[-1]) if len(lines) > 1 else self._line + len(lines[0])

    def kind(self) -> FileKind | None:
        if not self.active:
            return None
        first = "".join(self._first).strip()
        return FileKind.CSV if first and any(sep in first for sep in ",;\t") else FileKind.TEXT


def looks_like_legacy_text(head: bytes) -> bool:
    """Not UTF-8 but plainly text in an 8-bit code page (a Windows-1258 CSV from old Excel)."""
    return bool(head) and not _LEGACY_CONTROL_RE.search(head) and any(b >= 0x80 for b in head)


def safe_filename(declared: str | None, kind: FileKind) -> str:
    """The declared name, without folders or control characters, with the real type's extension
    (`../../Nghị quyết.exe` for a PDF → `Nghị quyết.pdf`)."""
    name = unicodedata.normalize("NFC", declared or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem.strip(" .")[:120].strip(" .") or "tep"
    return f"{stem}.{KINDS[kind].extension}"
