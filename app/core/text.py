"""Vietnamese text helpers: diacritic folding, name sort keys and search patterns.

`fold("Nguyễn Văn Đức")` → `"nguyen van duc"`: NFD, drop combining marks, `đ` → `d`, lower case,
single spaces. Folded columns are stored next to the names, so search and ordering run on plain
ASCII with ordinary indexes on both databases.
"""

from __future__ import annotations

import unicodedata

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


def member_sort_key(full_name: str) -> str:
    """Vietnamese order: given name (the last word), then family name (the first), then middle.

    "Nguyễn Văn An" → "an nguyen van". Ties are broken by id in queries.
    """
    words = fold(full_name).split()
    if len(words) <= 1:
        return " ".join(words)[:KEY_LENGTH]
    family, *middle, given = words
    return " ".join([given, family, *middle])[:KEY_LENGTH]


def search_terms(query: str) -> list[str]:
    """Folded words of a search query, LIKE wildcards escaped (with `\\`)."""
    return [like_escape(word) for word in fold(query).split()][:8]
