"""Phone numbers: accepted in local or international form, stored and returned in E.164."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from pydantic import AfterValidator, Field

DEFAULT_REGION = "VN"
MAX_INPUT_LENGTH = 32


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str, *, mobile_only: bool = True) -> str:
    """`0912 345 678`, `+84 912 345 678`, `84912345678` → `+84912345678`.

    Only Vietnamese mobile numbers are accepted by default: logins go by SMS, and a closed
    allowlist of destinations is the first defence against SMS pumping.
    """
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhone("Số điện thoại không hợp lệ.")
    if text.isdigit() and text.startswith("84") and len(text) >= 11:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("Số điện thoại không hợp lệ.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("Số điện thoại không hợp lệ.")
    if mobile_only:
        if number.country_code != 84:
            raise InvalidPhone("Chỉ chấp nhận số di động Việt Nam.")
        kind = phonenumbers.number_type(number)
        if kind not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        ):
            raise InvalidPhone("Chỉ chấp nhận số di động Việt Nam.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _validate(value: str) -> str:
    try:
        return normalise_phone(value)
    except InvalidPhone as exc:
        raise ValueError(str(exc)) from exc


Phone = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_INPUT_LENGTH,
        pattern=r"^\+?[0-9][0-9 .()-]{6,30}$",
        examples=["0912 345 678"],
        description="Vietnamese mobile number, local (0912 345 678) or international (+84…).",
    ),
    AfterValidator(_validate),
]
"""A request field holding a Vietnamese mobile number; validated and converted to E.164."""
