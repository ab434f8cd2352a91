"""Firebase Phone Auth ID tokens, verified by firebase-admin against the deployment's project.

`PhoneTokenVerifier` is the seam: `DisabledVerifier` (the default: the feature is off) and
`FirebaseVerifier`, which runs firebase-admin's own `auth.verify_id_token` (RS256 against
Google's public certificates, audience = the project id, issuer
`https://securetoken.google.com/<project>`, expiry) in a worker thread. The certificates are
fetched over HTTP and cached by their `Cache-Control`; `FIREBASE_AUTH__CERTS_URL` points the
SDK's verifier at another address (a local stub in tests).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any, Protocol

import firebase_admin
import google.auth.credentials
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials

from app.core.config import FirebaseAuthSettings


class FirebaseDisabled(Exception):
    """Firebase login is not configured in this deployment."""


class InvalidFirebaseToken(Exception):
    """The token is not a valid, current Firebase ID token of this project with a phone."""


class CertificatesUnavailable(Exception):
    """Google's public certificates could not be fetched."""


@dataclass(frozen=True, slots=True)
class VerifiedPhone:
    uid: str
    phone: str  # E.164, as Firebase states it


class PhoneTokenVerifier(Protocol):
    async def verify(self, id_token: str) -> VerifiedPhone: ...

    def close(self) -> None: ...


class DisabledVerifier:
    async def verify(self, id_token: str) -> VerifiedPhone:  # noqa: ARG002
        raise FirebaseDisabled

    def close(self) -> None:
        return None


class _NoCredential(credentials.Base):  # type: ignore[misc]
    """Verifying ID tokens needs no Google credential: only the project id and the certs."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]


_app_names = itertools.count(1)


class FirebaseVerifier:
    def __init__(self, settings: FirebaseAuthSettings) -> None:
        self._app = firebase_admin.initialize_app(
            _NoCredential(),
            options={"projectId": settings.project_id, "httpTimeout": settings.timeout_s},
            name=f"handbook-auth-{next(_app_names)}",
        )
        if settings.certs_url:
            # The SDK keeps the address on its ID-token verifier (`_token_gen.ID_TOKEN_CERT_URI`).
            client = firebase_auth._get_client(self._app)
            client._token_verifier.id_token_verifier.cert_url = settings.certs_url

    def _verify(self, id_token: str) -> dict[str, Any]:
        claims: dict[str, Any] = firebase_auth.verify_id_token(id_token, app=self._app)
        return claims

    async def verify(self, id_token: str) -> VerifiedPhone:
        try:
            claims = await asyncio.to_thread(self._verify, id_token)
        except firebase_auth.CertificateFetchError as exc:
            raise CertificatesUnavailable(str(exc)) from exc
        except (ValueError, firebase_admin.exceptions.FirebaseError) as exc:
            raise InvalidFirebaseToken(str(exc)) from exc
        phone = claims.get("phone_number")
        if not isinstance(phone, str) or not phone:
            raise InvalidFirebaseToken("the token carries no phone number")
        return VerifiedPhone(uid=str(claims["uid"]), phone=phone)

    def close(self) -> None:
        firebase_admin.delete_app(self._app)


def build_phone_verifier(settings: FirebaseAuthSettings) -> PhoneTokenVerifier:
    if not settings.enabled:
        return DisabledVerifier()
    return FirebaseVerifier(settings)
