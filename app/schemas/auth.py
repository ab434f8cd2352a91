"""Login shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.phone import Phone
from app.schemas.common import ReadModel, StrictModel

Password = Annotated[str, Field(min_length=1, max_length=128)]


class OtpRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+84901234567"}]})

    phone: Phone


class OtpChallengeRead(BaseModel):
    """Same shape and status for every well-formed number, known or not."""

    challenge_id: str
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be requested.")


class OtpVerify(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"challenge_id": "3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f81", "code": "482913"}]
        }
    )

    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^[0-9]{6}$", examples=["123456"])


class PasswordLogin(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"phone": "+84901234567", "password": "ChiBo@KhuPho3"}]}
    )

    phone: Phone
    password: Password


class RefreshRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refresh_token": "Xq3Vn8A1rT0kLm5ZpW7yC2bD9eF4gH6jK1sN0uO3vR8"}]
        }
    )

    refresh_token: str = Field(min_length=1, max_length=256)


class FirebaseLogin(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id_token": (
                        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
                        ".eyJwaG9uZV9udW1iZXIiOiIrODQ5MDEyMzQ1NjcifQ"
                        ".c2lnbmF0dXJlLW9mLXRoZS1maXJlYmFzZS10b2tlbg"
                    )
                }
            ]
        }
    )

    id_token: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
        description="The Firebase Phone Auth ID token (a JWT) from the app's Firebase SDK.",
    )


class LogoutRequest(StrictModel):
    refresh_token: str | None = Field(default=None, max_length=256)


class TokenPair(ReadModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Opaque; single use: every refresh returns a new one.")
    refresh_expires_in: int
    member_id: int


class PasswordSet(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"current_password": "ChiBo@KhuPho3", "new_password": "HocTap&LamTheo2027"}
            ]
        }
    )

    current_password: Password | None = Field(
        default=None,
        description="The password set now. Leave it out right after an SMS-code login "
        "(the OTP step-up) to set a first password or replace a forgotten one.",
    )
    new_password: str = Field(min_length=8, max_length=128)
