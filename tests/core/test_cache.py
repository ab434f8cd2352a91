"""The per-process TTL cache and the verified-token cache built on it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jose import jwt
from pydantic import SecretStr

from app.core.cache import TTLCache
from app.core.config import AuthSettings
from app.core.security import InvalidToken, TokenCodec
from app.models.base import utcnow


def test_entries_expire_and_the_cache_starts_afresh_when_full() -> None:
    cache: TTLCache[str, int] = TTLCache(ttl_s=60, max_entries=2)
    cache.put("a", 1)
    cache.put("gone", 2, ttl_s=-1)
    assert cache.get("a") == 1
    assert cache.get("gone") is None
    assert cache.get("missing") is None
    cache.put("b", 3)
    cache.put("c", 4)  # full: starts afresh
    assert cache.get("a") is None
    assert cache.get("c") == 4


def codec() -> TokenCodec:
    return TokenCodec(AuthSettings(secret_key=SecretStr("k" * 40)))


def test_a_verified_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = codec()
    token = tokens.issue_access(member_id=7, session_id="abc", now=utcnow())
    calls = []
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    first = tokens.decode_access(token)
    second = tokens.decode_access(token)
    assert first == second
    assert first.member_id == 7
    assert len(calls) == 1


def test_rejected_and_expired_tokens_are_never_cached() -> None:
    tokens = codec()
    good = tokens.issue_access(member_id=7, session_id="abc", now=utcnow())
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    expired = tokens.issue_access(
        member_id=7, session_id="abc", now=utcnow() - timedelta(minutes=20)
    )
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.decode_access(tampered)
        with pytest.raises(InvalidToken) as error:
            tokens.decode_access(expired)
        assert error.value.reason == "expired"
