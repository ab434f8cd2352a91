"""Study: the points ledger (append-only), yearly balances, quizzes and their attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class PointSource(StrEnum):
    """Where a ledger entry's points come from."""

    QUIZ = "quiz"  # a quiz passed
    DOCUMENT = "document"  # a document studied
    MEETING = "meeting"  # a meeting attended
    MANUAL = "manual"  # awarded (or corrected) by an officer, with a note
    OPENING = "opening"  # an imported opening balance


class PointEntry(Base):
    """One line of the ledger. Never edited nor deleted: a correction is a new entry.
    `source_key` names what earned it ("quiz:12:member:7"): an award can never count twice."""

    __tablename__ = "point_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)  # the local (rules.timezone) year it counts for
    source: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_point_entry_member_id", "member_id", "id"),)


class PointBalance(Base):
    """A member's points in a year, kept in step with the ledger by `services.points.award` (in
    the same transaction): home screens and leaderboards read it instead of summing entries."""

    __tablename__ = "point_balance"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_point_balance_year_points", "year", "points", "member_id"),)


class PointOrgTotal(Base):
    """Each org's study points in a year and its eligible (not exempt) members, its whole
    subtree counted: refreshed by the worker (`study.unit_totals`) so that a province-wide
    leaderboard by unit reads a few rows instead of every member."""

    __tablename__ = "point_org_total"

    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"


class RevealAfter(StrEnum):
    """When an attempt's correct answers and explanations are shown to its member."""

    SUBMIT = "submit"
    CLOSE = "close"


class Quiz(Base):
    __tablename__ = "quiz"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The document to study first (content area's id; no constraint across areas).
    document_id: Mapped[int | None] = mapped_column(BigId)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    time_limit_s: Mapped[int] = mapped_column(Integer)
    attempts_allowed: Mapped[int] = mapped_column(Integer)
    # Questions drawn at random for each attempt from the bank (all of them when null).
    draw_count: Mapped[int | None] = mapped_column(Integer)
    pass_percent: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    reveal_after: Mapped[str] = mapped_column(String(8), default=RevealAfter.SUBMIT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_quiz_org_id", "org_id", "id"),)


class QuizQuestion(Base):
    __tablename__ = "quiz_question"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]] = mapped_column(JSON)
    correct: Mapped[list[Any]] = mapped_column(JSON)  # option indexes; never sent before submit
    explanation: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_quiz_question_quiz_id", "quiz_id", "position"),)


class QuizAttempt(Base):
    __tablename__ = "quiz_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quiz.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    # The member's branch when the attempt started: results per unit stay where they were made.
    branch_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    question_ids: Mapped[list[Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    correct_count: Mapped[int | None] = mapped_column(Integer)
    score_percent: Mapped[int | None] = mapped_column(Integer)
    is_passed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    __table_args__ = (
        Index("uq_quiz_attempt_number", "quiz_id", "member_id", "number", unique=True),
        Index("ix_quiz_attempt_member_id", "member_id", "id"),
    )


class QuizAnswer(Base):
    """What a submitted attempt answered to one question (results per question)."""

    __tablename__ = "quiz_answer"

    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_attempt.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_question.id", ondelete="CASCADE"), primary_key=True
    )
    chosen: Mapped[list[Any]] = mapped_column(JSON)
    is_correct: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_quiz_answer_question_id", "question_id"),)


class SurveyQuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    SCALE = "scale"
    TEXT = "text"


class Survey(Base):
    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_anonymous: Mapped[bool] = mapped_column(Boolean)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_survey_org_id", "org_id", "id"),)


class SurveyQuestion(Base):
    __tablename__ = "survey_question"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any] | None] = mapped_column(JSON)
    scale_max: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_survey_question_survey_id", "survey_id", "position"),)


class SurveyParticipation(Base):
    """That a member has answered: no time, no id, nothing that leads to the answers."""

    __tablename__ = "survey_participation"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )


class SurveyResponse(Base):
    """One member's answers. Anonymous: a random id, no member, no time; the branch only for
    results per unit, shown for groups large enough not to identify anyone."""

    __tablename__ = "survey_response"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_survey_response_survey_id", "survey_id", "branch_id"),)


class SurveyAnswer(Base):
    __tablename__ = "survey_answer"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("survey_response.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("survey_question.id", ondelete="CASCADE"), primary_key=True
    )
    choices: Mapped[list[Any] | None] = mapped_column(JSON)  # option indexes, or [scale value]
    text: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_survey_answer_question_id", "question_id"),)
