"""meetings: meetings, summoned members and attendance, attachments, comments, motions, votes,
secret ballots (apart from the voters), tasks

Revision ID: 0200
Revises: 0300
Create Date: 2026-12-02 00:49:11.460878
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200"
down_revision: str | Sequence[str] | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=255), nullable=True),
        sa.Column("online_url", sa.String(length=500), nullable=True),
        sa.Column("agenda", sa.JSON(), nullable=False),
        sa.Column("qr_secret", sa.String(length=64), nullable=False),
        sa.Column(
            "created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("reschedule_reason", sa.String(length=500), nullable=True),
        sa.Column(
            "minutes_upload_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("minutes_text", sa.Text(), nullable=True),
        sa.Column("minutes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.String(length=16), nullable=True),
        sa.Column("upper_rating", sa.String(length=16), nullable=True),
        sa.Column(
            "upper_rated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_meeting_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["minutes_upload_id"],
            ["upload.id"],
            name=op.f("fk_meeting_minutes_upload_id_upload"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_meeting_org_id_org"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["upper_rated_by_id"],
            ["member.id"],
            name=op.f("fk_meeting_upper_rated_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting")),
    )
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_org_id_starts_at", ["org_id", "starts_at", "id"], unique=False
        )

    op.create_table(
        "meeting_attachment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "upload_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_meeting_attachment_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["upload.id"],
            name=op.f("fk_meeting_attachment_upload_id_upload"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_attachment")),
        sa.UniqueConstraint("upload_id", name=op.f("uq_meeting_attachment_upload_id")),
    )
    with op.batch_alter_table("meeting_attachment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_attachment_meeting_id", ["meeting_id", "id"], unique=False
        )

    op.create_table(
        "meeting_attendee",
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("member_status", sa.String(length=16), nullable=False),
        sa.Column("is_exempt", sa.Boolean(), nullable=False),
        sa.Column("attendance", sa.String(length=16), nullable=False),
        sa.Column("excuse_reason", sa.String(length=500), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column(
            "recorded_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("is_offline", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_meeting_attendee_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_meeting_attendee_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["member.id"],
            name=op.f("fk_meeting_attendee_recorded_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "member_id", name=op.f("pk_meeting_attendee")),
    )
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meeting_attendee_member_id", ["member_id", "meeting_id"], unique=False
        )

    op.create_table(
        "meeting_comment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("agenda_item", sa.Integer(), nullable=True),
        sa.Column("is_written_opinion", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_offline", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_meeting_comment_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_meeting_comment_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_comment")),
    )
    with op.batch_alter_table("meeting_comment", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_comment_meeting_id", ["meeting_id", "id"], unique=False)

    op.create_table(
        "motion",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "opened_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_show_of_hands", sa.Boolean(), nullable=False),
        sa.Column("yes_count", sa.Integer(), nullable=True),
        sa.Column("no_count", sa.Integer(), nullable=True),
        sa.Column("abstain_count", sa.Integer(), nullable=True),
        sa.Column("eligible_count", sa.Integer(), nullable=True),
        sa.Column("is_quorate", sa.Boolean(), nullable=True),
        sa.Column("has_passed", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_motion_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"],
            ["member.id"],
            name=op.f("fk_motion_opened_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_motion")),
    )
    with op.batch_alter_table("motion", schema=None) as batch_op:
        batch_op.create_index("ix_motion_meeting_id", ["meeting_id", "id"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column(
            "created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["member.id"],
            name=op.f("fk_task_assignee_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_task_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_task_meeting_id_meeting"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_task_org_id_org"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_assignee_id_status", ["assignee_id", "status", "due_date", "id"], unique=False
        )
        batch_op.create_index("ix_task_org_id", ["org_id", "id"], unique=False)

    op.create_table(
        "motion_vote",
        sa.Column(
            "motion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("choice", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_motion_vote_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["motion_id"],
            ["motion.id"],
            name=op.f("fk_motion_vote_motion_id_motion"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("motion_id", "member_id", name=op.f("pk_motion_vote")),
    )
    op.create_table(
        "secret_ballot",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "motion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["motion_id"],
            ["motion.id"],
            name=op.f("fk_secret_ballot_motion_id_motion"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_ballot")),
    )
    with op.batch_alter_table("secret_ballot", schema=None) as batch_op:
        batch_op.create_index("ix_secret_ballot_motion_id", ["motion_id"], unique=False)

    op.create_table(
        "meeting_offline_entry",
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("client_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_meeting_offline_entry_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["member.id"],
            name=op.f("fk_meeting_offline_entry_recorded_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "client_id", name=op.f("pk_meeting_offline_entry")),
    )


def downgrade() -> None:
    op.drop_table("meeting_offline_entry")
    with op.batch_alter_table("secret_ballot", schema=None) as batch_op:
        batch_op.drop_index("ix_secret_ballot_motion_id")

    op.drop_table("secret_ballot")
    op.drop_table("motion_vote")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_org_id")
        batch_op.drop_index("ix_task_assignee_id_status")

    op.drop_table("task")
    with op.batch_alter_table("motion", schema=None) as batch_op:
        batch_op.drop_index("ix_motion_meeting_id")

    op.drop_table("motion")
    with op.batch_alter_table("meeting_comment", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_comment_meeting_id")

    op.drop_table("meeting_comment")
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_attendee_member_id")

    op.drop_table("meeting_attendee")
    with op.batch_alter_table("meeting_attachment", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_attachment_meeting_id")

    op.drop_table("meeting_attachment")
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_org_id_starts_at")

    op.drop_table("meeting")
