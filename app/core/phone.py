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


# What `normalise_phone` accepts, as a pattern for the document (and checked first): +84, 84 or
# 0, then a Vietnamese mobile number (the first digits of libphonenumber's VN mobile ranges,
# nine digits in all), digits optionally separated by one space, dot or hyphen. Anything it
# matches, the server accepts (`tests/test_openapi.py` generates numbers from it); a few forms
# the parser would also take (`(091) 2345678`, `+84 (0) 912…`) are not documented, so refused.
_S = "[ .-]?"
PHONE_PATTERN = (
    "^(?:\\+84|84|0)_S(?:12_S1_S[0-3]|1[46]_S0_S[0-9]"
    "|(?:3[0-9]|5[1689]|7[06-9]|8[1-8]|9[0-8])_S[0-9]_S[0-9]"
    "|52_S[238]_S[0-9]|55_S9_S[0-9]|89_S[6-9]_S[0-9]|99_S[013-9]_S[0-9])(?:_S[0-9]){5}$"
).replace("_S", _S)

Phone = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_INPUT_LENGTH,
        pattern=PHONE_PATTERN,
        examples=["0912 345 678"],
        description="Vietnamese mobile number, local (0912 345 678) or international (+84…).",
    ),
    AfterValidator(_validate),
]
"""A request field holding a Vietnamese mobile number; validated and converted to E.164."""
