"""Entity tags for optimistic concurrency: `ETag` on editable resources, `If-Match` on edits.

A resource's tag is its row version (`"v7"`), bumped by every ORM update of the row. A client
that sends `If-Match` with the tag it read gets 412 `resource.etag_mismatch` if someone changed
the resource since; without `If-Match` the edit applies as before. The comparison happens in
the service, after the row is locked (`FOR UPDATE`), so two stale edits cannot both win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.errors import AppError

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


class PreconditionFailed(AppError):
    status = 412
    title = "Precondition Failed"
    default_code = "resource.etag_mismatch"
    default_detail = "Dữ liệu đã được người khác thay đổi. Vui lòng tải lại rồi sửa."


def etag(version: int) -> str:
    return f'"v{version}"'


@dataclass(frozen=True, slots=True)
class IfMatch:
    """A parsed `If-Match` header: `*`, or the strong tags it lists."""

    any: bool
    tags: frozenset[str]

    @classmethod
    def parse(cls, header: str | None) -> IfMatch | None:
        if header is None:
            return None
        if header.strip() == "*":
            return cls(any=True, tags=frozenset())
        tags = set()
        position = 0
        while position < len(header):
            match = _TAG.match(header, position)
            if match is None or match.end() == position:
                break  # malformed from here on: what was read so far counts, the rest never
            if not match.group(1):  # weak tags never match If-Match (strong comparison)
                tags.add(f'"{match.group(2)}"')
            position = match.end()
        return cls(any=False, tags=frozenset(tags))

    def require(self, version: int) -> None:
        if not self.any and etag(version) not in self.tags:
            raise PreconditionFailed()


def check(if_match: IfMatch | None, version: int) -> None:
    """Raise 412 when `If-Match` was sent and does not name the current version."""
    if if_match is not None:
        if_match.require(version)
