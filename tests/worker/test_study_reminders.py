"""Study reminders: "closes tomorrow" to who has not taken it; the monthly behind-target note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import ManualClock
from app.models import Job, Notice, PointSource, Quiz, QuizAttempt, Survey, SurveyParticipation
from app.resources import Resources
from app.services import jobs, points, study
from app.services.study import BEHIND_TARGET_JOB, CLOSING_JOB
from app.worker.handlers.study import members_behind
from app.worker.runner import Worker
from tests.factories import Tree


async def _reminders(session: AsyncSession, key: str) -> list[Notice]:
    notices = (await session.scalars(select(Notice).order_by(Notice.id))).all()
    return [n for n in notices if key in n.data and n.title.startswith("Ngày mai")]


async def test_closing_quiz_reminds_only_members_who_have_not_taken_it(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    now = clock.now()
    quiz = Quiz(
        org_id=tree.b1.id,
        title="Kiểm tra tháng 12",
        opens_at=now,
        closes_at=now + timedelta(days=3),
        time_limit_s=600,
        attempts_allowed=1,
        pass_percent=50,
        points=10,
        reveal_after="submit",
    )
    session.add(quiz)
    await session.flush()
    await study.announce(
        session,
        "quiz",
        quiz.id,
        org_id=tree.b1.id,
        title=quiz.title,
        opens_at=quiz.opens_at,
        closes_at=quiz.closes_at,
        created_by_id=tree.secretary.id,
        now=now,
    )
    session.add(
        QuizAttempt(
            quiz_id=quiz.id,
            member_id=tree.member.id,
            branch_id=tree.b1.id,
            number=1,
            question_ids=[],
            started_at=now,
            deadline_at=now + timedelta(minutes=10),
            submitted_at=now,
        )
    )
    await session.commit()
    job = await session.scalar(select(Job).where(Job.key == f"quiz:{quiz.id}:closing"))
    assert job is not None
    assert job.kind == CLOSING_JOB
    assert job.run_after == quiz.closes_at - timedelta(days=1)
    await worker.run_until_idle()
    assert await _reminders(session, "quiz_id") == []  # not yet
    clock.advance(days=2, minutes=1)
    await worker.run_until_idle()
    reminders = await _reminders(session, "quiz_id")
    assert len(reminders) == 1
    assert set(reminders[0].audience_member_ids or []) == {
        tree.secretary.id,
        tree.deputy.id,
        tree.exempt.id,
        tree.probationary.id,
    }


async def test_closing_survey_skips_who_answered(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock
) -> None:
    now = clock.now()
    survey = Survey(
        org_id=tree.b1.id,
        title="Khảo sát",
        opens_at=now,
        closes_at=now + timedelta(days=2),
        is_anonymous=True,
    )
    session.add(survey)
    await session.flush()
    await study.announce(
        session,
        "survey",
        survey.id,
        org_id=tree.b1.id,
        title=survey.title,
        opens_at=now,
        closes_at=survey.closes_at,
        created_by_id=tree.secretary.id,
        now=now,
    )
    session.add(SurveyParticipation(survey_id=survey.id, member_id=tree.secretary.id))
    await session.commit()
    clock.advance(days=1, minutes=1)
    await worker.run_until_idle()
    reminders = await _reminders(session, "survey_id")
    assert len(reminders) == 1
    assert tree.secretary.id not in (reminders[0].audience_member_ids or [])
    assert tree.member.id in (reminders[0].audience_member_ids or [])


async def test_behind_target_note_goes_monthly_to_members_behind(
    session: AsyncSession, tree: Tree, worker: Worker, clock: ManualClock, resources: Resources
) -> None:
    await points.award(
        session,
        member_id=tree.member.id,
        points=190,
        source=PointSource.OPENING,
        source_key="opening:member",
        reason="Số dư",
        at=clock.now(),
    )
    await session.commit()
    # 1 December: 11 months gone, 183 of 200 expected.
    behind = await members_behind(
        session, timezone=resources.settings.rules.timezone, target=200, now=clock.now()
    )
    assert tree.member.id not in behind
    assert tree.exempt.id not in behind
    assert tree.secretary.id in behind
    # The recurring job's first run only schedules the next 1st of the month, 09:00 local.
    await jobs.enqueue(
        session, BEHIND_TARGET_JOB, {}, dedupe_key=f"recurring:{BEHIND_TARGET_JOB}", now=clock.now()
    )
    await session.commit()
    await worker.run_until_idle()
    job = await session.scalar(
        select(Job).where(Job.kind == BEHIND_TARGET_JOB).execution_options(populate_existing=True)
    )
    assert job is not None
    assert job.run_after == datetime(2027, 1, 1, 2, 0, tzinfo=UTC)
    assert not [n for n in (await session.scalars(select(Notice))).all() if "screen" in n.data]
