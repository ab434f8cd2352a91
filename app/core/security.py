"""Tokens, codes and password hashes.

- Access tokens: JWT (python-jose) signed HS256 with the deployment secret; the algorithm is
  pinned on decode (never read from the token), `typ`, `iss` and `aud` are checked, lifetime is
  at most 15 minutes: a token whose `exp - iat` exceeds the configured lifetime, or whose `iat`
  lies in the future, is refused.
- Refresh tokens: 256 random bits, opaque to clients, stored as a SHA-256 digest.
- OTP codes: 6 digits from `secrets`, stored as an HMAC bound to the challenge and the phone.
- Passwords: Argon2id through passlib (the maintained `libpass` fork), hashed in a bounded thread
  pool so logins never block the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from jose import JWTError, jwt
from passlib.context import CryptContext

from app.core.cache import TTLCache
from app.core.config import AuthSettings

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token kind, not a secret
_LEEWAY_S = 30  # clock skew allowed between replicas


class InvalidToken(Exception):
    """The bearer token is missing a claim, expired, tampered with or of the wrong kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessClaims:
    member_id: int
    session_id: str


class TokenCodec:
    def __init__(self, settings: AuthSettings) -> None:
        self._key = settings.secret_key.get_secret_value()
        previous = settings.previous_secret_key.get_secret_value()
        # Tokens name the key that signed them (`kid`), so a rotation keeps the previous key for
        # verification only; a token without a `kid` predates key ids and uses the current key.
        self._kid = key_id(self._key)
        self._verification_keys = {self._kid: self._key}
        if previous and previous != self._key:
            self._verification_keys[key_id(previous)] = previous
        self._issuer = settings.issuer
        self._audience = settings.audience
        self.access_ttl = timedelta(seconds=settings.access_ttl_s)
        # A client sends the same token for minutes: remember the ones already verified (until
        # they expire) instead of checking the signature on every request.
        self._verified: TTLCache[str, AccessClaims] = TTLCache(ttl_s=0, max_entries=20_000)
        self.otp_key = _otp_key(self._key)
        # Codes sent before a rotation are still checked against the previous key's pepper.
        self.otp_keys = tuple(_otp_key(key) for key in self._verification_keys.values())

    def issue_access(self, *, member_id: int, session_id: str, now: datetime) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(member_id),
            "sid": session_id,
            "typ": ACCESS_TOKEN_TYPE,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
        }
        return str(
            jwt.encode(claims, self._key, algorithm=JWT_ALGORITHM, headers={"kid": self._kid})
        )

    def decode_access(self, token: str) -> AccessClaims:
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            kid = jwt.get_unverified_header(token).get("kid", self._kid)
            key = self._verification_keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("invalid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_sub": True,
                    "require_aud": True,
                    "require_iss": True,
                    "leeway": _LEEWAY_S,
                },
            )
        except InvalidToken:
            raise
        except JWTError as exc:
            reason = "expired" if "expired" in str(exc).lower() else "invalid"
            raise InvalidToken(reason) from exc
        except Exception as exc:  # malformed input of any kind is an invalid token, never a 500
            raise InvalidToken("invalid") from exc
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("invalid")
        issued, expires = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(issued, int)
            or not isinstance(expires, int)
            # Never longer-lived than what we issue, never issued in the future: a token minted
            # with a leaked key or by a bug elsewhere does not outlive the configured lifetime.
            or expires - issued > self.access_ttl.total_seconds()
            or issued > time.time() + _LEEWAY_S
        ):
            raise InvalidToken("invalid")
        sub, sid = claims.get("sub"), claims.get("sid")
        if not isinstance(sub, str) or not sub.isdigit() or not isinstance(sid, str) or not sid:
            raise InvalidToken("invalid")
        verified = AccessClaims(member_id=int(sub), session_id=sid)
        # Cached until the token's own expiry (without leeway), never longer than its lifetime.
        remaining = min(float(claims["exp"]) - time.time(), self.access_ttl.total_seconds())
        if remaining > 0:
            self._verified.put(token, verified, ttl_s=remaining)
        return verified


def key_id(key: str) -> str:
    """A public name for a signing key (its `kid`): derived, so it reveals nothing of the key."""
    return hmac.new(key.encode(), b"handbook/kid", hashlib.sha256).hexdigest()[:16]


def _otp_key(key: str) -> bytes:
    # Derived, so the OTP pepper differs from the signing key without another setting.
    return hmac.new(key.encode(), b"handbook/otp", hashlib.sha256).digest()


def new_id() -> str:
    """An opaque random identifier (32 hex characters)."""
    return uuid.uuid4().hex


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_otp_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def otp_hash(key: bytes, *, challenge_id: str, phone: str, code: str) -> str:
    message = f"{challenge_id}|{phone}|{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def otp_matches(key: bytes, *, challenge_id: str, phone: str, code: str, expected: str) -> bool:
    return hmac.compare_digest(
        otp_hash(key, challenge_id=challenge_id, phone=phone, code=code), expected
    )


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """Argon2id in a bounded thread pool: at most `hash_concurrency` hashes run at once."""

    def __init__(self, settings: AuthSettings) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        self._limiter = anyio.CapacityLimiter(settings.hash_concurrency)
        # Verified against when the phone is unknown, so both paths cost the same.
        self._dummy = self._context.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        value = normalise_password(password)
        return await anyio.to_thread.run_sync(self._context.hash, value, limiter=self._limiter)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one should be upgraded to the current parameters)."""
        value = normalise_password(password)
        target = hashed or self._dummy
        ok, new_hash = await anyio.to_thread.run_sync(
            self._context.verify_and_update, value, target, limiter=self._limiter
        )
        if hashed is None:
            return False, None
        return bool(ok), new_hash
