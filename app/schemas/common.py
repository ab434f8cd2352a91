"""Shapes shared by every area: problem details and cursor pages."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.core.text import InvalidName, checked_name

T = TypeVar("T")


def reject_nul(value: Any) -> Any:
    """NUL cannot be stored in PostgreSQL text: refuse it at the edge rather than fail later."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("Dữ liệu chứa ký tự không hợp lệ (NUL).")
    return value


NoNul = AfterValidator(reject_nul)

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_datetime_only(value: Any) -> Any:
    """Times come as ISO 8601 text with an offset, never as a number (no Unix-time guessing)."""
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value
    raise ValueError("Cần thời điểm dạng ISO 8601 có múi giờ, ví dụ 2026-12-01T08:00:00+07:00.")


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]


def _checked_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str schema refuses it
    try:
        return checked_name(value)
    except InvalidName as exc:
        raise PydanticCustomError("name_invalid", str(exc)) from exc


# A person's or an org's name: NFC-normalised and whitespace collapsed *before* its length is
# checked; refused without a visible letter or with control, invisible or bidi characters.
NameText = BeforeValidator(_checked_name)
NAME_RULES = "Unicode NFC; needs a letter; no control, invisible or bidi characters."


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; no NUL characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)


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
