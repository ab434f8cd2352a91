"""`POST /auth/firebase` through firebase-admin's own verification path: tokens signed by a test
key whose certificate a local stub serves (as Google serves securetoken's), never a mock of the
verification."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import FirebaseAuthSettings
from app.integrations.firebase_auth import FirebaseVerifier
from app.models import AuthSession, Member
from app.resources import Resources
from tests.factories import Tree
from tests.http import assert_problem

PROJECT = "handbook-test"
KID = "test-key-1"
URL = "/api/v1/auth/firebase"


def _key_and_cert() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


class CertStub:
    """Serves `{kid: certificate}` as Google's securetoken certificate endpoint does."""

    def __init__(self, certs: dict[str, str]) -> None:
        self.certs = certs
        self.hits = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.hits += 1
                body = json.dumps(stub.certs).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # noqa: ARG002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/certs"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def signing() -> tuple[rsa.RSAPrivateKey, str]:
    return _key_and_cert()


@pytest.fixture
def stub(signing: tuple[rsa.RSAPrivateKey, str]) -> Iterator[CertStub]:
    server = CertStub({KID: signing[1]})
    yield server
    server.close()


@pytest.fixture
def firebase(resources: Resources, stub: CertStub) -> Iterator[FirebaseVerifier]:
    verifier = FirebaseVerifier(
        FirebaseAuthSettings(enabled=True, project_id=PROJECT, certs_url=stub.url)
    )
    resources.firebase_auth = verifier
    yield verifier
    verifier.close()


def _token(key: rsa.RSAPrivateKey, phone: str | None, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": "firebase-uid-1",
        "auth_time": now - 5,
        "iat": now - 5,
        "exp": now + 3600,
        "firebase": {"sign_in_provider": "phone", "identities": {"phone": [phone]}},
    }
    if phone is not None:
        claims["phone_number"] = phone
    headers = {"kid": overrides.pop("kid", KID)}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


async def test_a_valid_token_logs_the_member_in(
    client: httpx.AsyncClient,
    tree: Tree,
    session: AsyncSession,
    firebase: FirebaseVerifier,
    signing: tuple[rsa.RSAPrivateKey, str],
    stub: CertStub,
) -> None:
    response = await client.post(URL, json={"id_token": _token(signing[0], tree.member.phone)})
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["member_id"] == tree.member.id
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    methods = await session.scalars(
        select(AuthSession.method).where(AuthSession.member_id == tree.member.id)
    )
    assert list(methods) == ["firebase"]
    assert stub.hits >= 1
    # The certificates are cached by their Cache-Control: a second login fetches nothing.
    hits = stub.hits
    again = await client.post(URL, json={"id_token": _token(signing[0], tree.member.phone)})
    assert again.status_code == 200
    assert stub.hits == hits


@pytest.mark.parametrize(
    "case",
    ["unknown_number", "other_project", "other_issuer", "expired", "other_key", "no_phone"],
)
async def test_bad_tokens_and_unknown_numbers_get_one_answer(
    client: httpx.AsyncClient,
    tree: Tree,
    session: AsyncSession,
    firebase: FirebaseVerifier,
    signing: tuple[rsa.RSAPrivateKey, str],
    case: str,
) -> None:
    key, phone = signing[0], tree.member.phone
    now = int(time.time())
    token = {
        "unknown_number": lambda: _token(key, "+84987000111"),
        "other_project": lambda: _token(key, phone, aud="another-project"),
        "other_issuer": lambda: _token(key, phone, iss="https://securetoken.google.com/other"),
        "expired": lambda: _token(key, phone, iat=now - 7200, exp=now - 3600),
        "other_key": lambda: _token(_key_and_cert()[0], phone),
        "no_phone": lambda: _token(key, None),
    }[case]()
    response = await client.post(URL, json={"id_token": token})
    assert_problem(response, 401, "auth.firebase_invalid")
    sessions = await session.scalars(
        select(AuthSession).where(AuthSession.member_id == tree.member.id)
    )
    assert list(sessions) == []


async def test_an_unsigned_or_symmetric_token_is_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    firebase: FirebaseVerifier,
) -> None:
    claims = {"aud": PROJECT, "sub": "x", "phone_number": tree.member.phone}
    for token in (
        jwt.encode(claims, "secret-secret-secret-secret-1234", algorithm="HS256"),
        jwt.encode(claims, "", algorithm="none") + "x",
    ):
        assert_problem(
            await client.post(URL, json={"id_token": token}), 401, "auth.firebase_invalid"
        )


async def test_a_locked_member_is_refused(
    client: httpx.AsyncClient,
    tree: Tree,
    session: AsyncSession,
    firebase: FirebaseVerifier,
    signing: tuple[rsa.RSAPrivateKey, str],
) -> None:
    member = await session.get(Member, tree.member.id)
    assert member is not None
    member.is_locked = True
    await session.commit()
    response = await client.post(URL, json={"id_token": _token(signing[0], tree.member.phone)})
    assert_problem(response, 403, "auth.account_locked")


async def test_unreachable_certificates_are_a_503(
    client: httpx.AsyncClient,
    tree: Tree,
    resources: Resources,
    signing: tuple[rsa.RSAPrivateKey, str],
) -> None:
    verifier = FirebaseVerifier(
        FirebaseAuthSettings(
            enabled=True, project_id=PROJECT, certs_url="http://127.0.0.1:9/certs", timeout_s=2
        )
    )
    resources.firebase_auth = verifier
    try:
        response = await client.post(URL, json={"id_token": _token(signing[0], tree.member.phone)})
    finally:
        verifier.close()
    assert_problem(response, 503, "auth.firebase_unavailable")


async def test_firebase_login_is_off_by_default(
    client: httpx.AsyncClient, tree: Tree, signing: tuple[rsa.RSAPrivateKey, str]
) -> None:
    response = await client.post(URL, json={"id_token": _token(signing[0], tree.member.phone)})
    assert_problem(response, 404, "auth.firebase_disabled")
