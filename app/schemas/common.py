"""Shapes shared by every area: strict input types, names, problem details and cursor pages."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.core.text import InvalidName, checked_name, plain_digits

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


# Request bodies are parsed strictly, type by type. FastAPI validates the decoded JSON as Python
# objects, where a model-wide `strict=True` would refuse ISO date strings and enum values; so:
# integers only as JSON integers, booleans only as JSON booleans, dates only as "YYYY-MM-DD".
MAX_ID = 2**63 - 1
StrictInt = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
ObjectId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value  # the date schema parses it (and refuses 2026-02-30)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # built in Python, not from JSON
    raise PydanticCustomError("date_type", "Input should be a date string in the form YYYY-MM-DD")


# Put it after any constraints: `Annotated[date, Field(ge=…), IsoDateText]` (a validator placed
# before them turns the constraints into non-standard `ge`/`le` keys in the JSON schema).
IsoDateText = BeforeValidator(_iso_date_only)
IsoDate = Annotated[date, IsoDateText]
_LOCAL_TIME_PATTERN = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
_LOCAL_TIME = re.compile(_LOCAL_TIME_PATTERN)


def _local_time_only(value: Any) -> Any:
    if isinstance(value, str) and _LOCAL_TIME.fullmatch(value):
        return value  # the time schema parses it
    if isinstance(value, time):
        return value  # built in Python, not from JSON
    raise PydanticCustomError("time_type", "Input should be a local time in the form HH:MM[:SS]")


# A local time of day, "HH:MM" or "HH:MM:SS": never seconds since midnight as a number, never an
# offset. Documented as such (JSON Schema's `format: time` would demand an offset).
_LOCAL_TIME_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": f"^{_LOCAL_TIME_PATTERN}$", "examples": ["22:00"]}
)
LocalTime = Annotated[time, BeforeValidator(_local_time_only), _LOCAL_TIME_SCHEMA]
LocalTimeRead = Annotated[time, _LOCAL_TIME_SCHEMA]


def _true_or_false(value: Any) -> Any:
    if isinstance(value, str) and value not in ("true", "false"):
        raise PydanticCustomError("bool_parsing", "Input should be true or false")
    return value


# A boolean query parameter: `true` or `false`, not `yes`, `on`, `1` …
QueryFlag = BeforeValidator(_true_or_false)
# An integer path or query parameter: ASCII digits only.
Digits = BeforeValidator(plain_digits)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; no NUL characters.
    Use `StrictInt`, `ObjectId`, `Flag`, `IsoDate` and `LocalTime` for numbers, booleans, dates
    and times (a test walks every field of every subclass)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(
            "null_forbidden",
            "Trường này không thể xoá: gửi một giá trị, hoặc bỏ trường này khỏi yêu cầu.",
        )
    return value


def _drop_null(schema: dict[str, Any]) -> None:
    """The field's JSON schema without its `null` branch and its `default: null`."""
    branches = [branch for branch in schema.pop("anyOf", ()) if branch != {"type": "null"}]
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


# A field of an edit (`…Update`, applied with `exclude_unset`) that the edit may leave out but
# cannot clear: `full_name: NotNull[FullName] = None`. The document shows it optional and not
# nullable; `null` is refused (422 `request.invalid`, `errors[].type` "null_forbidden") before
# the service runs, so nothing changes. Put length limits inside (`NotNull[Annotated[list[X],
# Field(max_length=20)]]`): on the outside they would apply to the optional type.
NotNull = Annotated[T | None, BeforeValidator(_refuse_null), Field(json_schema_extra=_drop_null)]


class ReadModel(BaseModel):
    """A response body whose fields have defaults: FastAPI serializes every field of a response
    model, so the document marks them all required (`tests/test_openapi.py` checks that every
    property of a 2xx body is)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


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
