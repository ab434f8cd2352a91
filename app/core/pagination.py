"""Keyset pagination: opaque cursors and the `limit`/`cursor` query parameters.

A cursor is base64url(JSON `[sort_name, *last_key]`). Each list names its sort and the types of
its key; a cursor from another list, or one that does not decode, is a 400
`pagination.invalid_cursor`. Queries then use `WHERE (k, id) > (:k, :id) ORDER BY k, id LIMIT n+1`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import Query
from pydantic import BeforeValidator

from app.core.errors import BadRequest
from app.core.text import plain_digits

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 1024

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Page size (default {DEFAULT_LIMIT})."),
    BeforeValidator(plain_digits),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page.",
    ),
]


class InvalidCursor(BadRequest):
    default_code = "pagination.invalid_cursor"
    default_detail = "Con trỏ phân trang không hợp lệ."


def encode_cursor(sort: str, key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, *key])).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The key stored in `cursor`, checked against the list's sort name and key types."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != sort:
        raise InvalidCursor()
    key = tuple(data[1:])
    for value, expected in zip(key, types, strict=True):
        if isinstance(value, str) and "\x00" in value:
            raise InvalidCursor()
        # bool is an int subclass in Python; a cursor never carries one where an int is expected.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise InvalidCursor()
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise InvalidCursor()
    return key


def page_of(
    rows: Sequence[Any], limit: int, sort: str, key_of: Any
) -> tuple[list[Any], str | None]:
    """Split a `LIMIT n+1` result into the page and the next cursor."""
    items = list(rows[:limit])
    next_cursor = encode_cursor(sort, key_of(items[-1])) if len(rows) > limit and items else None
    return items, next_cursor
