"""Authorization rows: a member's phone and logins."""

from __future__ import annotations

from tests.authz.harness import (
    MANAGE,
    MANAGE_DELETE,
    SELF,
    Call,
    Row,
    everyone,
    member_target,
    pick,
    table,
)

MEMBER = "member.not_found"

ROWS = {
    "change_member_phone": Row(
        lambda c, t: Call(
            "POST",
            f"/api/v1/members/{member_target(c, t)}/phone",
            {
                "phone": pick(t, "0987654341", "0987654342", "0987654343"),
                "reason": "Mất SIM, đã xác minh",
            },
        ),
        MANAGE,
        MEMBER,
    ),
    "end_member_logins": Row(
        lambda c, t: Call("POST", f"/api/v1/members/{member_target(c, t)}/logout-all"),
        MANAGE_DELETE,
        MEMBER,
    ),
    # The caller's own number and logins.
    "request_phone_change_code": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/me/phone/code",
            {"phone": pick(t, "0987654331", "0987654332", "0987654333")},
        ),
        everyone("202 202 202") | {"anonymous": "401 401 401"},
    ),
    "confirm_phone_change": Row(
        lambda c, t: Call("POST", "/api/v1/me/phone", {"challenge_id": "0" * 32, "code": "123456"}),
        table("401:auth.otp_invalid " * 3),
    ),
    "list_my_logins": Row(lambda c, t: Call("GET", "/api/v1/me/logins"), SELF),
    # Another member's login (or none) is not found, whoever asks.
    "end_my_login": Row(
        lambda c, t: Call("DELETE", f"/api/v1/me/logins/{'0' * 32}"),
        table("404 404 404"),
        "login.not_found",
    ),
}
