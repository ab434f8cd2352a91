"""One row of a member file: its cells turned into member fields, or the problems that refuse it.

`RowChecker` holds what a whole file's check needs (the branches of the import's org, the card
numbers and phones seen in earlier rows) and is used by one thread at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from app.core.phone import InvalidPhone, normalise_phone
from app.core.text import InvalidName, checked_name, fold, member_sort_key, name_key
from app.models import Gender, MemberStatus
from app.services.imports.columns import BY_KEY
from app.services.imports.reading import RawRow, cell_text

_PHONE_NOISE: Final = re.compile(r"[ .()-]")
_PHONE_RE: Final = re.compile(r"^(?:\+84|84|0)([1-9]\d{8})$")
CARD_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z./-]{2,31}$")
EARLIEST: Final = date(1900, 1, 1)
EXCEL_EPOCH: Final = date(1899, 12, 30)
_DMY_RE: Final = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_YMD_RE: Final = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATE_FORMATS: Final = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%d/%m/%y")
_STATUS: Final = {
    "chinh thuc": MemberStatus.FULL,
    "dang vien chinh thuc": MemberStatus.FULL,
    "ct": MemberStatus.FULL,
    "full": MemberStatus.FULL,
    "du bi": MemberStatus.PROBATIONARY,
    "dang vien du bi": MemberStatus.PROBATIONARY,
    "db": MemberStatus.PROBATIONARY,
    "probationary": MemberStatus.PROBATIONARY,
}
_GENDER: Final = {
    "nam": Gender.MALE,
    "male": Gender.MALE,
    "m": Gender.MALE,
    "nu": Gender.FEMALE,
    "female": Gender.FEMALE,
    "f": Gender.FEMALE,
}
_YES: Final = frozenset({"x", "co", "1", "true", "yes", "mien", "mien sinh hoat", "c"})
_NO: Final = frozenset({"khong", "0", "false", "no", "k"})


@dataclass(frozen=True, slots=True)
class Branch:
    id: int
    path: str
    name: str


@dataclass(slots=True)
class Problem:
    column: str | None  # column key, None for the row as a whole
    code: str
    message: str
    value: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "header": BY_KEY[self.column].header if self.column else None,
            "value": self.value,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class CheckedRow:
    number: int
    cells: dict[str, Any]
    # Member fields present in the file (empty cells are absent: they never erase a value).
    fields: dict[str, Any] = field(default_factory=dict)
    card: str | None = None
    branch: Branch | None = None
    problems: list[Problem] = field(default_factory=list)
    # The name's search and sort keys, computed with the check (in the reading thread).
    keys: tuple[str, str] = ("", "")

    @property
    def ok(self) -> bool:
        return not self.problems

    def reject(self, column: str | None, code: str, message: str) -> None:
        value = cell_text(self.cells.get(column)) if column else ""
        self.problems.append(Problem(column, code, message, value))

    def report_cells(self) -> dict[str, str]:
        return {key: cell_text(value) for key, value in self.cells.items()}


class Branches:
    """The branches of the import's org (itself, if it is one), found by id or folded name."""

    def __init__(self, branches: list[Branch], *, default: Branch | None) -> None:
        self.default = default
        self.by_id = {b.id: b for b in branches}
        self.by_name: dict[str, Branch | None] = {}
        for branch in branches:
            key = fold(branch.name)
            # Two branches with one name: only their ids tell them apart.
            self.by_name[key] = None if key in self.by_name else branch

    def find(self, text: str) -> Branch | str | None:
        """The branch, None when unknown, "ambiguous" when several share the name."""
        if text.isdigit() and int(text) in self.by_id:
            return self.by_id[int(text)]
        key = _folded(text)
        if key in self.by_name:
            return self.by_name[key] or "ambiguous"
        if not key.startswith("chi bo ") and f"chi bo {key}" in self.by_name:
            return self.by_name[f"chi bo {key}"] or "ambiguous"
        return None


@lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    """`fold`, remembered: a file repeats the same few genders, statuses and branch names."""
    return fold(text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_date(value: Any) -> date | None:
    """A date cell (a real date, an Excel serial number, or text dd/mm/yyyy, yyyy-mm-dd …);
    ValueError for text that is no date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2_958_466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError("serial out of range")
    text = str(value).strip()
    numeric = _DMY_RE.match(text) or _YMD_RE.match(text)
    if numeric is not None:
        first, second, third = (int(part) for part in numeric.groups())
        if first > 31:
            return date(first, second, third)  # ValueError for a day that does not exist
        return date(third, second, first)
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    raise ValueError("not a date")


class RowChecker:
    def __init__(self, branches: Branches, *, today: date) -> None:
        self.branches = branches
        self.today = today
        self.cards: dict[str, int] = {}  # card number → the first row that has it
        self.phones: dict[str, int] = {}
        self._prefixes: dict[str, str] = {}  # 5-digit prefix → "" (mobile) or the problem

    def check(self, raw: RawRow) -> CheckedRow:
        row = CheckedRow(number=raw.number, cells=raw.cells)
        cells = raw.cells
        self._card(row, _text(cells.get("card")))
        name = _text(cells.get("full_name"))
        if not name:
            row.reject("full_name", "import.name_missing", "Thiếu họ và tên.")
        else:
            try:
                clean = checked_name(name)
            except InvalidName as exc:
                row.reject("full_name", "import.name_invalid", str(exc))
            else:
                if len(clean) > 255:
                    row.reject("full_name", "import.name_invalid", "Họ và tên quá dài.")
                else:
                    row.fields["full_name"] = clean
                    row.keys = (name_key(clean), member_sort_key(clean))
        for key in ("date_of_birth", "joined_date", "official_date"):
            self._date(row, key)
        self._choice(row, "gender", _GENDER, "Giới tính phải là “Nam” hoặc “Nữ”.")
        self._choice(row, "status", _STATUS, "Loại đảng viên phải là “Chính thức” hoặc “Dự bị”.")
        self._exempt(row)
        self._phone(row)
        self._branch(row)
        self._date_rules(row)
        return row

    def _card(self, row: CheckedRow, text: str) -> None:
        card = text.replace(" ", "")
        if not card:
            row.reject("card", "import.card_missing", "Thiếu số thẻ đảng viên.")
            return
        if not CARD_RE.match(card):
            row.reject("card", "import.card_invalid", "Số thẻ đảng viên không hợp lệ.")
            return
        first = self.cards.setdefault(card, row.number)
        if first != row.number:
            row.reject("card", "import.card_duplicate", f"Số thẻ trùng với dòng {first} trong tệp.")
            return
        row.card = card

    def _date(self, row: CheckedRow, key: str) -> None:
        value = row.cells.get(key)
        try:
            parsed = parse_date(value)
        except ValueError:
            row.reject(key, "import.date_invalid", "Ngày không hợp lệ (dùng dạng dd/mm/yyyy).")
            return
        if parsed is None:
            return
        if parsed > self.today:
            row.reject(key, "import.date_in_future", "Ngày ở tương lai.")
        elif parsed < EARLIEST:
            row.reject(key, "import.date_invalid", "Ngày trước năm 1900.")
        else:
            row.fields[key] = parsed

    def _choice(self, row: CheckedRow, key: str, table: dict[str, Any], message: str) -> None:
        text = _text(row.cells.get(key))
        if not text:
            return
        choice = table.get(_folded(text))
        if choice is None:
            row.reject(key, f"import.{key}_invalid", message)
        else:
            row.fields[key] = choice.value

    def _exempt(self, row: CheckedRow) -> None:
        text = _folded(_text(row.cells.get("exempt")))
        if not text:
            return
        if text in _YES:
            row.fields["is_exempt"] = True
        elif text in _NO:
            row.fields["is_exempt"] = False
        else:
            row.reject("exempt", "import.exempt_invalid", "Miễn sinh hoạt: ghi “Có” hoặc “Không”.")

    def _phone(self, row: CheckedRow) -> None:
        text = _text(row.cells.get("phone"))
        if not text:
            return
        try:
            phone = self._normalise_phone(text)
        except InvalidPhone as exc:
            row.reject("phone", "import.phone_invalid", str(exc))
            return
        first = self.phones.setdefault(phone, row.number)
        if first != row.number:
            row.reject("phone", "import.phone_duplicate", f"Số điện thoại trùng với dòng {first}.")
            return
        row.fields["phone"] = phone

    def _normalise_phone(self, text: str) -> str:
        """`normalise_phone`, with its verdict on plain Vietnamese numbers kept per prefix:
        the numbering plan decides a 9-digit national number by its first digits (five are
        enough), and a province's file repeats a few hundred prefixes over many rows."""
        plain = _PHONE_RE.match(_PHONE_NOISE.sub("", text))
        if plain is None:
            return normalise_phone(text)
        national = plain.group(1)
        verdict = self._prefixes.get(national[:5])
        if verdict is None:
            try:
                normalise_phone("0" + national)
            except InvalidPhone as exc:
                verdict = str(exc)
            else:
                verdict = ""
            self._prefixes[national[:5]] = verdict
        if verdict:
            raise InvalidPhone(verdict)
        return "+84" + national

    def _branch(self, row: CheckedRow) -> None:
        text = _text(row.cells.get("branch"))
        if not text:
            if self.branches.default is None:
                row.reject("branch", "import.branch_missing", "Thiếu tên chi bộ.")
            else:
                row.branch = self.branches.default
            return
        found = self.branches.find(text)
        if found == "ambiguous":
            row.reject(
                "branch",
                "import.branch_ambiguous",
                "Có nhiều chi bộ cùng tên: ghi mã chi bộ (số) thay cho tên.",
            )
        elif found is None or isinstance(found, str):
            row.reject(
                "branch", "import.branch_unknown", "Không có chi bộ này trong tổ chức đang nhập."
            )
        else:
            row.branch = found

    def _date_rules(self, row: CheckedRow) -> None:
        f = row.fields
        status = f.get("status")
        if status == MemberStatus.PROBATIONARY and f.get("official_date"):
            row.reject(
                "official_date",
                "import.probationary_has_official_date",
                "Đảng viên dự bị chưa có ngày chính thức.",
            )
        joined, official = f.get("joined_date"), f.get("official_date")
        born = f.get("date_of_birth")
        if joined and official and official < joined:
            row.reject(
                "official_date",
                "import.official_before_joined",
                "Ngày chính thức phải sau ngày vào Đảng.",
            )
        if born and joined and joined <= born:
            row.reject(
                "joined_date", "import.joined_before_birth", "Ngày vào Đảng phải sau ngày sinh."
            )
