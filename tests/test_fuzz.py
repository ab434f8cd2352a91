"""Schemathesis over the whole OpenAPI document, in process, on every database the suite runs on,
as an anonymous caller, a plain member and a province officer.

Each case must get an answer the document promises (documented status, matching schema and
content type) and never a 5xx. The apps under test are real: their own migrated database
seeded with the demo province, their own lifespan (started by schemathesis' ASGI client).
`FUZZ_EXAMPLES` raises the number of examples per operation (default 25) for deeper runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import PositiveDataAcceptanceConfig
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.db import create_engine
from app.core.security import TokenCodec, new_id
from app.main import create_app
from app.models import AuthSession, Member
from app.models.base import utcnow
from app.services.seed import seed_demo
from tests import dbs, problem_codes
from tests.conftest import database_params, make_settings

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
ACTOR_PHONES = {"member": "+84900000003", "officer": "+84900000001"}

# The document is the app's own; the app each case runs against is chosen per database below.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_settings()))
# Credentials come from the test (per role), not from generation; unknown query parameters are
# ignored by design (forward compatibility), so they are not "invalid data" for this API.
schema.config.generation.update(
    max_examples=EXAMPLES, with_security_parameters=False, allow_extra_parameters=False
)
# A schema-valid request may still break a rule of the domain (an unknown phone number, dates out
# of order) or carry a made-up opaque cursor: 422 and 400 are documented answers for those, as
# 404/409/429 are for their own reasons, 412 for a made-up `If-Match`, and 413/415 for an
# upload whose bytes are too many or of a type the purpose does not take (content, not schema).
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "400", "401", "403", "404", "409", "412", "413", "415", "422", "429"]
)


def fuzz_settings(url: str) -> Settings:
    base = make_settings(url)
    # Limits stay on but wide, so the fuzzer exercises handlers rather than the limiter.
    auth = base.auth.model_copy(
        update={
            "otp_requests_per_ip_per_hour": 1_000_000,
            "login_attempts_per_ip_per_hour": 1_000_000,
        }
    )
    return base.model_copy(update={"auth": auth})


async def _mint(url: str, settings: Settings, member_id: int) -> dict[str, str]:
    """A fresh login for the member (by id: a fuzzed edit may have changed their phone), unlocked
    (a fuzzed lock may have hit them)."""
    engine = create_engine(settings.model_copy(update={"database_url": url}), null_pool=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(Member).where(Member.id == member_id).values(is_locked=False))
            now = utcnow()
            sid = new_id()
            await conn.execute(
                insert(AuthSession).values(
                    id=sid,
                    member_id=member_id,
                    method="test",
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
    finally:
        await engine.dispose()
    token = TokenCodec(settings.auth).issue_access(member_id=member_id, session_id=sid, now=now)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FuzzTarget:
    app: FastAPI
    url: str
    settings: Settings
    actor_ids: dict[str, int]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if role not in self.tokens:
            self.renew(role)
        return self.tokens[role]

    def renew(self, role: str) -> None:
        """A new session for the role (a fuzzed logout or lock may have ended the last one)."""
        self.tokens[role] = asyncio.run(_mint(self.url, self.settings, self.actor_ids[role]))


async def _prepare(engine: AsyncEngine) -> dict[str, int]:
    await dbs.migrate(engine)
    await seed_demo(engine, password_hash=None)
    async with engine.connect() as conn:
        ids = {
            role: await conn.scalar(select(Member.id).where(Member.phone == phone))
            for role, phone in ACTOR_PHONES.items()
        }
    return {role: int(member_id) for role, member_id in ids.items() if member_id is not None}


@pytest.fixture(scope="session", params=database_params())
async def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> AsyncIterator[FuzzTarget]:
    async with dbs.fresh_database(request.param, f"fuzz_{worker_id}", tmp_path_factory) as (
        url,
        engine,
    ):
        actor_ids = await _prepare(engine)
        assert set(actor_ids) == set(ACTOR_PHONES)
        settings = fuzz_settings(url)
        yield FuzzTarget(app=create_app(settings), url=url, settings=settings, actor_ids=actor_ids)


# KNOWN DEFECT (issue 11), not a pass: on SQLite these writes can wait out the client's 10 s
# timeout under schemathesis (a second connection waiting on the write lock); they pass on
# PostgreSQL, where they keep being fuzzed. Remove an entry as soon as its cause is fixed.
SQLITE_LOCK_WAITS = {
    ("POST", "/api/v1/meetings/{meeting_id}/check-in"),
    ("POST", "/api/v1/meetings/{meeting_id}/check-in/qr"),
    ("POST", "/api/v1/orgs/{org_id}/tasks"),
}


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
@pytest.mark.parametrize("role", ["anonymous", "member", "officer"])
def test_api_keeps_its_contract(
    case: schemathesis.Case[Any], fuzz_target: FuzzTarget, role: str
) -> None:
    operation = (case.operation.method.upper(), case.operation.path)
    if fuzz_target.url.startswith("sqlite") and operation in SQLITE_LOCK_WAITS:
        pytest.skip("known SQLite lock wait under the fuzzer (issue 11); fuzzed on PostgreSQL")
    headers = fuzz_target.headers(role)
    response = case.call_and_validate(app=fuzz_target.app, headers=headers)
    # The document must list every code the fuzzer meets (checked at the session's end).
    sent = response.request
    template = problem_codes.template_of(
        fuzz_target.app, str(sent.method), urlsplit(str(sent.url)).path
    )
    if template is not None:
        problem_codes.record(
            str(sent.method),
            template,
            response.status_code,
            response.headers.get("content-type", [""])[0],
            response.content,
        )
    if role != "anonymous" and response.status_code == 401:
        fuzz_target.renew(role)
