"""Authorization rows: the member's own screens."""

from __future__ import annotations

from tests.authz.harness import SELF, Call, Row

ROWS = {
    "get_me": Row(lambda c, t: Call("GET", "/api/v1/me"), SELF),
    "get_home": Row(lambda c, t: Call("GET", "/api/v1/me/home"), SELF),
    "get_my_data": Row(lambda c, t: Call("GET", "/api/v1/me/data"), SELF),
}
