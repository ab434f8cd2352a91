"""Login and sessions, by concern.

- `common`: what every login step shares (the `Auth` bundle, client info, per-phone serialisation,
  the IP limiter call).
- `otp`: SMS one-time codes (request, verify, closing open codes).
- `passwords`: password login, lockout, setting and changing a password.
- `sessions`: sessions (refresh-token families), token issue and rotation, logout, revocation.
- `actor`: turning a verified access token into the request's `Actor` (the lean read path).

Import the module you need: `from app.services.auth import otp as otp_service`.
"""
