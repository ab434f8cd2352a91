"""Points count once under concurrency: many submits of one attempt, many awards of one source
key. Real races on PostgreSQL; on SQLite writers queue behind one lock and the tests check the
outcome."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from app.main import create_app
from app.models import PointBalance, PointEntry, PointSource, QuizAttempt
from app.resources import Resources
from app.services import points
from tests import dbs
from tests.conftest import FreshDatabase, make_settings
from tests.factories import login_headers, make_member, make_org
from tests.study_factories import make_attempt, make_open_quiz


def _copies(resources: Resources) -> int:
    return 100 if resources.db.engine.dialect.name == "postgresql" else 20


async def test_concurrent_awards_of_one_source_key_write_one_entry(fresh_db: FreshDatabase) -> None:
    await dbs.migrate(fresh_db.engine)
    resources = Resources.build(make_settings(fresh_db.url))
    try:
        async with resources.db.write() as session:
            branch = await make_org(session, name="Chi bộ Đồng thời")
            member = await make_member(session, branch, full_name="Nguyễn Văn Điểm")
            await session.commit()
            member_id = member.id

        async def award_once() -> int | None:
            async with resources.db.write() as session:
                entry = await points.award(
                    session,
                    member_id=member_id,
                    points=10,
                    source=PointSource.MEETING,
                    source_key=f"meeting:7:member:{member_id}",
                    reason="Dự sinh hoạt chi bộ",
                )
                await session.commit()
                return entry

        results = await asyncio.gather(*[award_once() for _ in range(_copies(resources))])
        assert sum(r is not None for r in results) == 1
        async with resources.db.read() as session:
            entries = await session.scalar(select(func.count()).select_from(PointEntry))
            balance = await session.scalar(select(PointBalance.points))
        assert (entries, balance) == (1, 10)
    finally:
        await resources.aclose()


async def test_concurrent_submits_of_one_attempt_score_and_award_once(
    fresh_db: FreshDatabase,
) -> None:
    await dbs.migrate(fresh_db.engine)
    settings = make_settings(fresh_db.url)
    # Every submit waits on the attempt's row lock holding a connection: on a busy machine the
    # queue for the pool must not time out first (that is the pool's limit, not the rule's).
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"pool_timeout_s": 300})}
    )
    resources = Resources.build(settings)
    async with resources.db.write() as session:
        branch = await make_org(session, name="Chi bộ Đồng thời")
        member = await make_member(session, branch, full_name="Nguyễn Văn Nộp Bài")
        quiz, question = await make_open_quiz(session, branch, points=12, attempts_allowed=1)
        attempt = await make_attempt(session, quiz, question, member.id, branch.id)
        headers = await login_headers(session, resources.auth.codec, member.id)
        await session.commit()
        attempt_id, question_id = attempt.id, question.id
    app = create_app(settings, resources=resources)
    body = {"answers": [{"question_id": question_id, "chosen": [0]}]}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            copies = _copies(resources)
            # Half with one Idempotency-Key (retries of one submit), half without (double taps).
            responses = await asyncio.gather(
                *[
                    client.post(
                        f"/api/v1/quiz-attempts/{attempt_id}/submit",
                        json=body,
                        headers={**headers, "Idempotency-Key": "submit-once"} if i % 2 else headers,
                    )
                    for i in range(copies)
                ]
            )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 409}, [r.text for r in responses if r.status_code >= 500]
        executed = [
            r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
        ]
        assert len(executed) == 1
        # Retries with the key wait for the first of them and get its answer (never 409
        # `idempotency.in_flight`); whichever submit comes second is told it was submitted.
        assert {r.json()["code"] for r in responses if r.status_code == 409} <= {
            "quiz.attempt_submitted",
        }
        async with resources.db.read() as session:
            entries = (await session.scalars(select(PointEntry.points))).all()
            balance = await session.scalar(select(PointBalance.points))
            row = await session.get(QuizAttempt, attempt_id)
        assert list(entries) == [12]
        assert balance == 12
        assert row is not None
        assert row.is_passed
    finally:
        await resources.aclose()
