"""Document numbers (số hiệu) normalised for search.

"57-NQ/TW", "57/NQ-TW", "NQ 57" and "Nghị quyết số 57-NQ/TW" are the same number written
differently. The key keeps the numeric parts (leading zeros dropped) first, then the letter
parts, folded and space-separated, between spaces: " 57 nq tw ". A query matches when each of
its parts is a whole part of the key, so "NQ 57" finds " 57 nq tw ".
"""

from __future__ import annotations

import re

from app.core.text import fold

_PARTS = re.compile(r"[0-9]+|[a-z]+")
KEY_MAX = 80


def parts(text: str) -> list[str]:
    found = _PARTS.findall(fold(text))
    digits = [str(int(p)) for p in found if p.isdigit()]
    letters = [p for p in found if not p.isdigit()]
    return digits + letters


def number_key(number: str | None) -> str | None:
    if not number:
        return None
    found = parts(number)
    if not found:
        return None
    return f" {' '.join(found)} "[:KEY_MAX]
