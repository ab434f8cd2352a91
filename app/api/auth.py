"""Login by SMS OTP or password, token refresh and logout."""

from __future__ import annotations

import logging

from fastapi import BackgroundTasks, status

from app.api.deps import ClientDep, CurrentActor, ResourcesDep, SessionDep
from app.api.responses import problems
from app.api.routing import area_router
from app.core import metrics
from app.integrations.sms import SmsGateway, SmsMessage
from app.schemas.auth import (
    FirebaseLogin,
    OtpChallengeRead,
    OtpRequest,
    OtpVerify,
    PasswordLogin,
    PasswordSet,
    RefreshRequest,
    TokenPair,
)
from app.services.auth import firebase as firebase_service
from app.services.auth import otp as otp_service
from app.services.auth import passwords as password_service
from app.services.auth import sessions as session_service
from app.services.auth.common import IssuedTokens

router = area_router(prefix="/auth", tags=["auth"])
_NO_LOGIN = "The account may not log in."
log = logging.getLogger("app.auth")


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=tokens.refresh_expires_in,
        member_id=tokens.member_id,
    )


async def send_sms(gateway: SmsGateway, message: SmsMessage) -> None:
    try:
        await gateway.send(message)
    except Exception:  # the member can ask again; never fail (or slow) the answer
        metrics.OTP_SEND_FAILED.inc()
        log.exception("sending the OTP SMS failed", extra={"reference": message.reference})
    else:
        # Watch sent against verified logins: many codes never used is what SMS pumping looks like.
        metrics.OTP_SENT.inc()


@router.post(
    "/otp/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OtpChallengeRead,
    responses=problems(
        413,
        422,
        codes={429: ["auth.otp_cooldown", "auth.otp_hourly_limit"], 503: ["sms.budget_exhausted"]},
    ),
)
async def request_otp(
    body: OtpRequest,
    session: SessionDep,
    resources: ResourcesDep,
    client: ClientDep,
    background: BackgroundTasks,
) -> OtpChallengeRead:
    """Send a login code by SMS to a member's phone.

    Every well-formed Vietnamese mobile number gets the same 202 answer, known or not; only
    numbers on the roster receive an SMS. The code lives 5 minutes and allows 5 tries.
    """
    issued = await otp_service.request_otp(session, resources.auth, phone=body.phone, client=client)
    metrics.OTP_REQUESTS.inc()  # every accepted request, known number or not
    if issued.message is not None:
        # Runs after the response (and so after the commit): the answer's timing does not
        # depend on whether the number is known, and no SMS goes out for a rolled-back request.
        background.add_task(send_sms, resources.sms, issued.message)
    return OtpChallengeRead(
        challenge_id=issued.challenge_id,
        expires_in=issued.expires_in,
        resend_after=issued.resend_after,
    )


@router.post(
    "/otp/verify",
    response_model=TokenPair,
    responses=problems(
        413,
        422,
        503,
        codes={
            401: ["auth.otp_expired", "auth.otp_invalid"],
            403: ["auth.account_locked"],
            429: ["auth.otp_locked", "auth.otp_too_many_attempts"],
        },
        descriptions={401: "The code was refused.", 403: _NO_LOGIN},
    ),
)
async def verify_otp(
    body: OtpVerify, session: SessionDep, resources: ResourcesDep, client: ClientDep
) -> TokenPair:
    """Exchange the SMS code for an access token and a refresh token.

    A login made this way has proved the phone: for the next 5 minutes it may set or replace
    the password without the current one (`PUT /auth/password`, once).
    """
    tokens = await otp_service.verify_otp(
        session, resources.auth, challenge_id=body.challenge_id, code=body.code, client=client
    )
    metrics.LOGINS.labels("otp").inc()
    return _pair(tokens)


@router.post(
    "/password/login",
    response_model=TokenPair,
    responses=problems(
        413,
        422,
        503,
        codes={
            401: ["auth.invalid_credentials"],
            403: ["auth.account_locked"],
            429: ["auth.password_locked"],
        },
        descriptions={401: "The phone number and password were refused.", 403: _NO_LOGIN},
    ),
)
async def login_with_password(
    body: PasswordLogin, session: SessionDep, resources: ResourcesDep, client: ClientDep
) -> TokenPair:
    """Log in with phone and password (after one has been set)."""
    tokens = await password_service.login_with_password(
        session, resources.auth, phone=body.phone, password=body.password, client=client
    )
    metrics.LOGINS.labels("password").inc()
    return _pair(tokens)


@router.post(
    "/firebase",
    response_model=TokenPair,
    responses=problems(
        413,
        422,
        429,
        codes={
            401: ["auth.firebase_invalid"],
            403: ["auth.account_locked"],
            404: ["auth.firebase_disabled"],
            503: ["auth.firebase_unavailable"],
        },
        descriptions={401: "The Firebase ID token was refused.", 403: _NO_LOGIN},
    ),
)
async def login_with_firebase(
    body: FirebaseLogin, session: SessionDep, resources: ResourcesDep, client: ClientDep
) -> TokenPair:
    """Exchange a Firebase Phone Auth ID token for our tokens (deployments that send login
    SMS through Firebase; 404 `auth.firebase_disabled` elsewhere). The token is verified by
    firebase-admin against the deployment's project. A number not on the roster gets the
    same 401 `auth.firebase_invalid` as a token that does not verify."""
    tokens = await firebase_service.login_with_firebase(
        session, resources.auth, resources.firebase_auth, id_token=body.id_token, client=client
    )
    metrics.LOGINS.labels("firebase").inc()
    return _pair(tokens)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=problems(
        413,
        422,
        codes={
            401: [
                "auth.refresh_invalid",
                "auth.refresh_reused",
                "auth.session_expired",
                "auth.session_revoked",
            ],
            403: ["auth.account_locked"],
        },
        descriptions={401: "The refresh token was refused: log in again.", 403: _NO_LOGIN},
    ),
)
async def refresh_tokens(
    body: RefreshRequest, session: SessionDep, resources: ResourcesDep, client: ClientDep
) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: presenting a used
    one ends the whole session (every token issued from that login)."""
    tokens = await session_service.refresh_tokens(
        session, resources.auth, refresh_token=body.refresh_token, client=client
    )
    return _pair(tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
async def logout(actor: CurrentActor, session: SessionDep) -> None:
    """End this login: its refresh tokens and access tokens stop working at once."""
    await session_service.logout(session, actor)


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401))
async def logout_everywhere(actor: CurrentActor, session: SessionDep) -> None:
    """End every login of this member, on every device."""
    await session_service.logout_everywhere(session, actor)


@router.put(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        401,
        413,
        codes={
            403: ["auth.step_up_required", "auth.wrong_password"],
            422: ["auth.password_weak"],
            429: ["auth.password_locked"],
        },
        descriptions={403: "The password cannot be set this way."},
    ),
)
async def set_password(
    body: PasswordSet, actor: CurrentActor, session: SessionDep, resources: ResourcesDep
) -> None:
    """Set a first password, change it, or replace a forgotten one.

    Proof that this is the member, one of:
    - `current_password` (when one is set); wrong guesses count towards the phone's password
      lockout (429 `auth.password_locked`);
    - a fresh OTP step-up: this login was made with `POST /auth/otp/verify` in the last 5
      minutes (`AUTH__STEP_UP_TTL_S`); the proof sets one password. For a first password, or a
      forgotten one, the app logs in by SMS code and calls this right away. Later, the app
      runs `POST /auth/otp/request` + `/auth/otp/verify` again (the member's own phone), switches
      to the new tokens, then calls this.

    An access token alone is not enough: 403 `auth.step_up_required`. On success every other
    login of the member ends; this one stays.
    """
    await password_service.set_password(
        session,
        resources.auth,
        actor,
        current_password=body.current_password,
        new_password=body.new_password,
    )
