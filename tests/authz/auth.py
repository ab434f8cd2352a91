"""Authorization rows: login, tokens, logout, password."""

from __future__ import annotations

from tests.authz.harness import SELF_NO_CONTENT, Call, Row, everyone, pick, table

ROWS = {
    # Public: the same answer whoever calls.
    "request_otp": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/auth/otp/request",
            {"phone": pick(t, "0987654321", "0987654322", "0987654323")},
        ),
        everyone("202 202 202"),
    ),
    "verify_otp": Row(
        lambda c, t: Call(
            "POST", "/api/v1/auth/otp/verify", {"challenge_id": "0" * 32, "code": "123456"}
        ),
        everyone("401:auth.otp_invalid " * 3),
    ),
    "login_with_password": Row(
        lambda c, t: Call(
            "POST",
            "/api/v1/auth/password/login",
            {"phone": "0987654321", "password": "not the password"},
        ),
        everyone("401:auth.invalid_credentials " * 3),
    ),
    # Off unless the deployment configures Firebase (the matrix runs with the default).
    "login_with_firebase": Row(
        lambda c, t: Call("POST", "/api/v1/auth/firebase", {"id_token": "aa.bb.cc"}),
        everyone("404:auth.firebase_disabled " * 3),
    ),
    "refresh_tokens": Row(
        lambda c, t: Call("POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"}),
        everyone("401:auth.refresh_invalid " * 3),
    ),
    # The caller's own session.
    "logout": Row(lambda c, t: Call("POST", "/api/v1/auth/logout"), SELF_NO_CONTENT),
    "logout_everywhere": Row(lambda c, t: Call("POST", "/api/v1/auth/logout-all"), SELF_NO_CONTENT),
    "set_password": Row(
        # An access token alone (no current password, no fresh OTP login) sets no password.
        lambda c, t: Call(
            "PUT", "/api/v1/auth/password", {"new_password": "Một mật khẩu mạnh 2026"}
        ),
        table("403:auth.step_up_required " * 3),
    ),
}
