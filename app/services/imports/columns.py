"""The columns of the national member database's export, as this import recognises them.

Headers are matched after folding (no diacritics, lower case), with punctuation, `*` marks and
notes in brackets dropped, so "Số thẻ đảng viên", "SO THE DANG VIEN" and "Số thẻ ĐV (*)" are the
same column; columns may come in any order and unknown columns are ignored.

The columns assumed (the national export's member list, "Danh sách đảng viên"): party card
number, full name, date of birth, gender, phone, branch, status (full / probationary), date
joined, date made a full member, exemption from branch activities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from app.core.text import fold


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str  # as the template and the exports write it
    aliases: tuple[str, ...]  # folded forms recognised in a file
    required: bool = False
    example: str = ""


COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "card",
        "Số thẻ đảng viên",
        ("so the dang vien", "so the", "so the dv", "ma the dang vien", "so the dang"),
        required=True,
        example="01.234567",
    ),
    Column(
        "full_name",
        "Họ và tên",
        ("ho va ten", "ho ten", "ho ten dang vien", "ten dang vien"),
        required=True,
        example="Nguyễn Văn An",
    ),
    Column(
        "date_of_birth", "Ngày sinh", ("ngay sinh", "ngay thang nam sinh"), example="15/03/1975"
    ),
    Column("gender", "Giới tính", ("gioi tinh",), example="Nam"),
    Column(
        "phone",
        "Số điện thoại",
        ("so dien thoai", "dien thoai", "sdt", "so dt", "dien thoai di dong", "so di dong"),
        example="0912345678",
    ),
    Column(
        "branch",
        "Chi bộ",
        ("chi bo", "ten chi bo", "chi bo sinh hoat", "ma chi bo", "to chuc dang"),
        example="Chi bộ Khu phố 1",
    ),
    Column(
        "status",
        "Loại đảng viên",
        ("loai dang vien", "trang thai", "tinh trang", "dang vien chinh thuc du bi"),
        example="Chính thức",
    ),
    Column(
        "joined_date",
        "Ngày vào Đảng",
        ("ngay vao dang", "ngay ket nap", "ngay ket nap dang"),
        example="03/02/2005",
    ),
    Column(
        "official_date",
        "Ngày chính thức",
        ("ngay chinh thuc", "ngay cong nhan chinh thuc", "ngay do chinh thuc"),
        example="03/02/2006",
    ),
    Column(
        "exempt",
        "Miễn sinh hoạt",
        ("mien sinh hoat", "mien sinh hoat dang", "mien cong tac va sinh hoat dang"),
        example="Không",
    ),
)
BY_KEY: Final[dict[str, Column]] = {column.key: column for column in COLUMNS}
_BY_ALIAS: Final[dict[str, str]] = {
    alias: column.key for column in COLUMNS for alias in column.aliases
}
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NOT_WORD = re.compile(r"[^a-z0-9 ]+")


def header_key(text: object) -> str | None:
    """The column a header cell names, or None."""
    if not isinstance(text, str):
        return None
    folded = fold(_BRACKETS.sub(" ", text))
    folded = " ".join(_NOT_WORD.sub(" ", folded).split())
    return _BY_ALIAS.get(folded)
