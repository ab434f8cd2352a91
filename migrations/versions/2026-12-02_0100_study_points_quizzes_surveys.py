"""study: the points ledger and yearly balances, quizzes with attempts, surveys

The ledger (`point_entry`) is append-only with a unique `source_key`; `point_balance` keeps each
member's yearly total in step with it. Survey participation is stored apart from the answers.

Revision ID: 0400
Revises: 0500
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400"
down_revision: str | Sequence[str] | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "point_balance",
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_point_balance_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "year", name=op.f("pk_point_balance")),
    )
    with op.batch_alter_table("point_balance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_point_balance_year_points", ["year", "points", "member_id"], unique=False
        )

    op.create_table(
        "point_org_total",
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_point_org_total_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "year", name=op.f("pk_point_org_total")),
    )
    op.create_table(
        "point_entry",
        sa.Column("id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_point_entry_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_point_entry_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point_entry")),
        sa.UniqueConstraint("source_key", name=op.f("uq_point_entry_source_key")),
    )
    with op.batch_alter_table("point_entry", schema=None) as batch_op:
        batch_op.create_index("ix_point_entry_member_id", ["member_id", "id"], unique=False)

    op.create_table(
        "quiz",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("document_id", BigId, nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_limit_s", sa.Integer(), nullable=False),
        sa.Column("attempts_allowed", sa.Integer(), nullable=False),
        sa.Column("draw_count", sa.Integer(), nullable=True),
        sa.Column("pass_percent", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reveal_after", sa.String(length=8), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_quiz_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_quiz_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz")),
    )
    with op.batch_alter_table("quiz", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_org_id", ["org_id", "id"], unique=False)

    op.create_table(
        "survey",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_survey_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_survey_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey")),
    )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index("ix_survey_org_id", ["org_id", "id"], unique=False)

    op.create_table(
        "quiz_attempt",
        sa.Column("id", BigId, nullable=False),
        sa.Column("quiz_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("branch_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("question_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correct_count", sa.Integer(), nullable=True),
        sa.Column("score_percent", sa.Integer(), nullable=True),
        sa.Column("is_passed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["org.id"],
            name=op.f("fk_quiz_attempt_branch_id_org"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_quiz_attempt_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quiz.id"], name=op.f("fk_quiz_attempt_quiz_id_quiz"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_attempt")),
    )
    with op.batch_alter_table("quiz_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_attempt_member_id", ["member_id", "id"], unique=False)
        batch_op.create_index(
            "uq_quiz_attempt_number", ["quiz_id", "member_id", "number"], unique=True
        )

    op.create_table(
        "quiz_question",
        sa.Column("id", BigId, nullable=False),
        sa.Column("quiz_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("correct", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quiz.id"], name=op.f("fk_quiz_question_quiz_id_quiz"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_question")),
    )
    with op.batch_alter_table("quiz_question", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_question_quiz_id", ["quiz_id", "position"], unique=False)

    op.create_table(
        "survey_participation",
        sa.Column("survey_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_survey_participation_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey.id"],
            name=op.f("fk_survey_participation_survey_id_survey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("survey_id", "member_id", name=op.f("pk_survey_participation")),
    )
    op.create_table(
        "survey_question",
        sa.Column("id", BigId, nullable=False),
        sa.Column("survey_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("scale_max", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey.id"],
            name=op.f("fk_survey_question_survey_id_survey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_question")),
    )
    with op.batch_alter_table("survey_question", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_question_survey_id", ["survey_id", "position"], unique=False
        )

    op.create_table(
        "survey_response",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", BigId, nullable=False),
        sa.Column("branch_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["org.id"],
            name=op.f("fk_survey_response_branch_id_org"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_survey_response_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey.id"],
            name=op.f("fk_survey_response_survey_id_survey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
    )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_response_survey_id", ["survey_id", "branch_id"], unique=False
        )

    op.create_table(
        "quiz_answer",
        sa.Column("attempt_id", BigId, nullable=False),
        sa.Column("question_id", BigId, nullable=False),
        sa.Column("chosen", sa.JSON(), nullable=False),
        sa.Column("is_correct", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["quiz_attempt.id"],
            name=op.f("fk_quiz_answer_attempt_id_quiz_attempt"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["quiz_question.id"],
            name=op.f("fk_quiz_answer_question_id_quiz_question"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "question_id", name=op.f("pk_quiz_answer")),
    )
    with op.batch_alter_table("quiz_answer", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_answer_question_id", ["question_id"], unique=False)

    op.create_table(
        "survey_answer",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("question_id", BigId, nullable=False),
        sa.Column("choices", sa.JSON(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["survey_question.id"],
            name=op.f("fk_survey_answer_question_id_survey_question"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_response.id"],
            name=op.f("fk_survey_answer_response_id_survey_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "question_id", name=op.f("pk_survey_answer")),
    )
    with op.batch_alter_table("survey_answer", schema=None) as batch_op:
        batch_op.create_index("ix_survey_answer_question_id", ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_answer", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answer_question_id")

    op.drop_table("survey_answer")
    with op.batch_alter_table("quiz_answer", schema=None) as batch_op:
        batch_op.drop_index("ix_quiz_answer_question_id")

    op.drop_table("quiz_answer")
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_response_survey_id")

    op.drop_table("survey_response")
    with op.batch_alter_table("survey_question", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_question_survey_id")

    op.drop_table("survey_question")
    op.drop_table("survey_participation")
    with op.batch_alter_table("quiz_question", schema=None) as batch_op:
        batch_op.drop_index("ix_quiz_question_quiz_id")

    op.drop_table("quiz_question")
    with op.batch_alter_table("quiz_attempt", schema=None) as batch_op:
        batch_op.drop_index("uq_quiz_attempt_number")
        batch_op.drop_index("ix_quiz_attempt_member_id")

    op.drop_table("quiz_attempt")
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_org_id")

    op.drop_table("survey")
    with op.batch_alter_table("quiz", schema=None) as batch_op:
        batch_op.drop_index("ix_quiz_org_id")

    op.drop_table("quiz")
    with op.batch_alter_table("point_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_point_entry_member_id")

    op.drop_table("point_entry")
    with op.batch_alter_table("point_balance", schema=None) as batch_op:
        batch_op.drop_index("ix_point_balance_year_points")

    op.drop_table("point_balance")
    op.drop_table("point_org_total")
