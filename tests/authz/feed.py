"""Authorization rows: the member's feed and search (every member, for themselves)."""

from __future__ import annotations

from tests.authz.harness import SELF, Call, Row

ROWS = {
    "list_my_feed": Row(lambda c, t: Call("GET", "/api/v1/me/feed"), SELF),
    "search_content": Row(lambda c, t: Call("GET", "/api/v1/search?q=nghi%20quyet%2057"), SELF),
}
