"""Rotating AUTH__SECRET_KEY logs nobody out: tokens name their key (`kid`), and the previous
key still verifies access tokens, pending SMS codes and file links until they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt
from pydantic import SecretStr

from app.core.config import AuthSettings, Env, Settings
from app.core.security import InvalidToken, TokenCodec, key_id, otp_hash, otp_matches
from app.integrations.storage.base import InvalidSignedToken, SignedGrant
from app.integrations.storage.local import UrlSigner

OLD = "o" * 48
NEW = "n" * 48


def _codec(secret: str, previous: str = "") -> TokenCodec:
    return TokenCodec(
        AuthSettings(secret_key=SecretStr(secret), previous_secret_key=SecretStr(previous))
    )


def _issue(codec: TokenCodec) -> str:
    return codec.issue_access(member_id=7, session_id="s1", now=datetime.now(UTC))


def test_tokens_name_their_key_without_revealing_it() -> None:
    token = _issue(_codec(OLD))
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid == key_id(OLD)
    assert OLD not in kid
    assert key_id(OLD) != key_id(NEW)


def test_previous_key_verifies_until_it_is_removed() -> None:
    old_token = _issue(_codec(OLD))
    rotated = _codec(NEW, previous=OLD)
    assert rotated.decode_access(old_token).member_id == 7
    assert rotated.decode_access(_issue(rotated)).member_id == 7
    assert jwt.get_unverified_header(_issue(rotated))["kid"] == key_id(NEW)
    with pytest.raises(InvalidToken):
        _codec(NEW).decode_access(old_token)


def test_a_token_naming_an_unknown_key_is_refused() -> None:
    claims = jwt.get_unverified_claims(_issue(_codec(NEW)))
    forged = jwt.encode(claims, NEW, algorithm="HS256", headers={"kid": "someone-else"})
    with pytest.raises(InvalidToken):
        _codec(NEW).decode_access(forged)


def test_codes_sent_before_the_rotation_still_match() -> None:
    expected = otp_hash(_codec(OLD).otp_key, challenge_id="c", phone="+84900000001", code="123456")
    rotated = _codec(NEW, previous=OLD)
    assert any(
        otp_matches(key, challenge_id="c", phone="+84900000001", code="123456", expected=expected)
        for key in rotated.otp_keys
    )
    assert not any(
        otp_matches(key, challenge_id="c", phone="+84900000001", code="123456", expected=expected)
        for key in _codec(NEW).otp_keys
    )


def test_file_links_signed_before_the_rotation_still_open() -> None:
    grant = SignedGrant(key="a/b", op="get", expires_at=datetime.now(UTC) + timedelta(minutes=5))
    token = UrlSigner(SecretStr(OLD)).sign(grant)
    assert UrlSigner(SecretStr(NEW), SecretStr(OLD)).verify(token).key == "a/b"
    with pytest.raises(InvalidSignedToken):
        UrlSigner(SecretStr(NEW)).verify(token)


def test_production_refuses_a_weak_or_unchanged_previous_key() -> None:
    for previous in ("short", NEW):
        settings = Settings(
            env=Env.PROD,
            auth=AuthSettings(secret_key=SecretStr(NEW), previous_secret_key=SecretStr(previous)),
        )
        assert any("AUTH__PREVIOUS_SECRET_KEY" in p for p in settings.problems())
