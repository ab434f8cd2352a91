"""Builders for study objects: an open quiz with one question, an attempt at it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Org, Quiz, QuizAttempt, QuizQuestion
from app.models.base import utcnow


async def make_open_quiz(
    session: AsyncSession,
    org: Org,
    *,
    title: str = "Kiểm tra",
    points: int = 10,
    attempts_allowed: int = 3,
) -> tuple[Quiz, QuizQuestion]:
    """Opened an hour ago, closes tomorrow; one single-choice question whose answer is 0."""
    now = utcnow()
    quiz = Quiz(
        org_id=org.id,
        title=title,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
        time_limit_s=600,
        attempts_allowed=attempts_allowed,
        pass_percent=50,
        points=points,
        reveal_after="submit",
    )
    session.add(quiz)
    await session.flush()
    question = QuizQuestion(
        quiz_id=quiz.id,
        position=1,
        kind="single",
        text="Câu hỏi?",
        options=["Đúng", "Sai"],
        correct=[0],
    )
    session.add(question)
    await session.flush()
    return quiz, question


async def make_attempt(
    session: AsyncSession, quiz: Quiz, question: QuizQuestion, member_id: int, branch_id: int
) -> QuizAttempt:
    """A running attempt (ten minutes left)."""
    now = utcnow()
    attempt = QuizAttempt(
        quiz_id=quiz.id,
        member_id=member_id,
        branch_id=branch_id,
        number=1,
        question_ids=[question.id],
        started_at=now,
        deadline_at=now + timedelta(minutes=10),
    )
    session.add(attempt)
    await session.flush()
    return attempt
