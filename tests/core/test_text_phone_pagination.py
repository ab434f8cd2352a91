"""Vietnamese text folding and name order, phone numbers, keyset cursors."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from app.core.pagination import InvalidCursor, decode_cursor, encode_cursor, page_of
from app.core.phone import InvalidPhone, normalise_phone
from app.core.text import clean_name, fold, member_sort_key, search_terms

# -- text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nguyễn Văn Đức", "nguyen van duc"),
        ("ĐẶNG", "dang"),
        ("  Trần   Thị\tHồng  ", "tran thi hong"),
        ("Hòa Bình", "hoa binh"),
        ("Chi bộ Khu phố 1", "chi bo khu pho 1"),
        # Decomposed input (NFD, as some keyboards send it) folds the same way.
        ("Nguye\u0302\u0303n", "nguyen"),
    ],
)
def test_fold_strips_diacritics_and_case(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_clean_name_normalises_to_nfc_and_collapses_spaces() -> None:
    assert clean_name("  Nguye\u0302\u0303n   Văn  An ") == "Nguyễn Văn An"


def test_member_sort_key_puts_given_name_first() -> None:
    assert member_sort_key("Nguyễn Văn An") == "an nguyen van"
    assert member_sort_key("Mai") == "mai"
    assert member_sort_key("   ") == ""


def test_members_sort_by_given_name_then_family_name() -> None:
    names = [
        "Đặng Quốc Khánh",
        "Nguyễn Văn An",
        "Phạm Thị Ánh",
        "Bùi Thị Hoa",
        "Lê Văn An",
        "Đỗ Văn Giang",
        "Trần Thị Bình",
        "Nguyễn Thị An",
        "Đào Duy Anh",
    ]

    assert sorted(names, key=member_sort_key) == [
        "Lê Văn An",
        "Nguyễn Thị An",
        "Nguyễn Văn An",
        "Đào Duy Anh",
        "Phạm Thị Ánh",
        "Trần Thị Bình",
        "Đỗ Văn Giang",
        "Bùi Thị Hoa",
        "Đặng Quốc Khánh",
    ]


def test_search_terms_fold_and_escape_like_wildcards() -> None:
    assert search_terms("Nguyễn  VĂN") == ["nguyen", "van"]
    assert search_terms("50%_giảm a\\b") == ["50\\%\\_giam", "a\\\\b"]


def test_search_terms_keep_at_most_eight_words() -> None:
    assert search_terms(" ".join(f"w{i}" for i in range(12))) == [f"w{i}" for i in range(8)]


# -- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["0912 345 678", "+84 912 345 678", "84912345678", "0912345678", " 091-234-5678 "],
)
def test_normalise_phone_accepts_vietnamese_mobile_forms(raw: str) -> None:
    assert normalise_phone(raw) == "+84912345678"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("024 3825 3535", id="hanoi-landline"),
        pytest.param("028 3829 5555", id="hcmc-landline"),
        pytest.param("+1 650 253 0000", id="us-number"),
        pytest.param("+44 7911 123456", id="uk-mobile"),
        pytest.param("not a phone", id="garbage"),
        pytest.param("0912", id="too-short"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("0" * 33, id="overlong"),
        pytest.param("0912 345 678 " * 3, id="overlong-repeated"),
    ],
)
def test_normalise_phone_rejects_other_numbers(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


def test_normalise_phone_accepts_landline_when_not_mobile_only() -> None:
    assert normalise_phone("024 3825 3535", mobile_only=False) == "+842438253535"


# -- pagination ----------------------------------------------------------------------------------


def raw_cursor(payload: Any) -> str:
    """A cursor holding arbitrary JSON, as a client could forge it."""
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def test_cursor_round_trips_key() -> None:
    cursor = encode_cursor("members", ["an nguyen van", 42])

    assert decode_cursor(cursor, "members", (str, int)) == ("an nguyen van", 42)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_round_trips_non_ascii_and_large_ids() -> None:
    cursor = encode_cursor("orgs", ["Đảng ủy phường Hòa Bình", 2**63 - 1])

    assert decode_cursor(cursor, "orgs", (str, int)) == ("Đảng ủy phường Hòa Bình", 2**63 - 1)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not a cursor!!", id="garbage"),
        pytest.param("a", id="not-base64"),
        pytest.param("čurzor", id="non-ascii"),
        pytest.param("", id="empty"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe[").decode(), id="not-utf8-json"),
        pytest.param(raw_cursor({"sort": "members", "key": ["a", 1]}), id="json-object"),
        pytest.param(raw_cursor("members"), id="json-string"),
        pytest.param(raw_cursor([]), id="empty-list"),
        pytest.param(raw_cursor(["orgs", "a", 1]), id="wrong-sort-name"),
        pytest.param(raw_cursor(["members", "a"]), id="too-few-values"),
        pytest.param(raw_cursor(["members", "a", 1, 2]), id="too-many-values"),
        pytest.param(raw_cursor(["members", "a", "1"]), id="str-for-int"),
        pytest.param(raw_cursor(["members", 1, 1]), id="int-for-str"),
        pytest.param(raw_cursor(["members", "a", True]), id="bool-for-int"),
        pytest.param(raw_cursor(["members", "a", 1.5]), id="float-for-int"),
        pytest.param(raw_cursor(["members", "a", None]), id="null-for-int"),
        pytest.param(raw_cursor(["members", "a", 2**63]), id="int-above-int64"),
        pytest.param(
            base64.urlsafe_b64encode(b'["members", "a", -9223372036854775809]').decode(),
            id="int-below-int64",
        ),
    ],
)
def test_decode_cursor_rejects_foreign_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as info:
        decode_cursor(cursor, "members", (str, int))

    assert info.value.code == "pagination.invalid_cursor"
    assert info.value.status == 400


def test_page_of_returns_cursor_only_when_more_rows_exist() -> None:
    rows = [("an", 1), ("binh", 2), ("cuong", 3)]

    items, next_cursor = page_of(rows, 2, "members", lambda row: row)
    last_items, last_cursor = page_of(rows[2:], 2, "members", lambda row: row)

    assert items == rows[:2]
    assert next_cursor is not None
    assert decode_cursor(next_cursor, "members", (str, int)) == ("binh", 2)
    assert (last_items, last_cursor) == ([("cuong", 3)], None)
