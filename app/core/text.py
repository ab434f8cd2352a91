"""Vietnamese text helpers: diacritic folding, name sort keys and search patterns.

`fold("Nguyễn Văn Đức")` → `"nguyen van duc"`: NFD, drop combining marks, `đ` → `d`, lower case,
single spaces. Folded columns are stored next to the names, so search and ordering run on plain
ASCII with ordinary indexes on both databases.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic_core import PydanticCustomError

_D_MAP = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D_MAP))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


KEY_LENGTH = 255  # the folded columns (name_folded, sort_key) are String(255)


def name_key(name: str) -> str:
    """The folded name as stored for search. Folding may lengthen text (Hangul decomposes into
    jamo), so it is cut to the column length."""
    return fold(name)[:KEY_LENGTH]


def like_escape(text: str) -> str:
    """Text for a LIKE pattern with `\\` as the escape character: `%` and `_` match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def clean_name(text: str) -> str:
    """NFC-normalise and collapse whitespace (what we store as the display name)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class InvalidName(ValueError):
    pass


# Control (C0/C1), format (zero-width, soft hyphen, bidi controls …), surrogate, private-use and
# unassigned characters: none belongs in a name, and each can hide or reorder what people see.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Letters (by category) or symbols that render as nothing: Hangul fillers, the braille blank.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def checked_name(text: str) -> str:
    """A person's or an org's name as stored: NFC, whitespace collapsed, at least one visible
    letter, no control, invisible or bidi-control characters (`InvalidName` otherwise)."""
    text = unicodedata.normalize("NFC", text)
    for ch in text:
        if ch in _BIDI_CONTROLS:
            raise InvalidName("Tên không được chứa ký tự điều khiển hướng chữ.")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise InvalidName(f"Tên chứa ký tự không hợp lệ (U+{ord(ch):04X}).")
    name = " ".join(text.split())
    if not any(unicodedata.category(ch)[0] == "L" and ch not in _BLANKS for ch in name):
        raise InvalidName("Tên phải có ít nhất một chữ cái nhìn thấy được.")
    return name


def member_sort_key(full_name: str) -> str:
    """Vietnamese order: given name (the last word), then family name (the first), then middle.

    "Nguyễn Văn An" → "an nguyen van". Ties are broken by id in queries.
    """
    words = fold(full_name).split()
    if len(words) <= 1:
        return " ".join(words)[:KEY_LENGTH]
    family, *middle, given = words
    return " ".join([given, family, *middle])[:KEY_LENGTH]


def plain_digits(value: Any) -> Any:
    """A validator for integers that arrive as text (path and query parameters): only the ASCII
    digits 0-9, never `+1`, ` 1`, `1_0`, `1.0` or other scripts' digits."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        # pydantic's own type and message for an unparsable integer
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    return value


def search_terms(query: str) -> list[str]:
    """Folded words of a search query, LIKE wildcards escaped (with `\\`)."""
    return [like_escape(word) for word in fold(query).split()][:8]
