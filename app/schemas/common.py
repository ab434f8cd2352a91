"""Shapes shared by every area: problem details and cursor pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ValidationErrorItem(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable `code` and the `request_id`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://handbook.dangvien.vn/problems/scope.forbidden",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "Bạn không có quyền thực hiện thao tác này.",
                    "code": "scope.forbidden",
                    "request_id": "6f1c2a9e0b7d4c1f",
                    "instance": "/api/v1/orgs/12/members",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable reason, `area.reason`.")
    request_id: str | None = None
    instance: str | None = None
    errors: list[ValidationErrorItem] | None = Field(
        default=None, description="On 422: what was wrong, field by field."
    )
    retry_after: int | None = Field(default=None, description="On 429: seconds to wait.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
