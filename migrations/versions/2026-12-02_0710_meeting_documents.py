"""meeting documents: published documents attached to a meeting's agenda

Revision ID: 0710
Revises: 0700
Create Date: 2026-12-02 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0710"
down_revision: str | Sequence[str] | None = "0700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meeting_document",
        sa.Column("meeting_id", BigId, nullable=False),
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_meeting_document_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_meeting_document_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "document_id", name=op.f("pk_meeting_document")),
    )
    op.create_index(
        "ix_meeting_document_document_id", "meeting_document", ["document_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_meeting_document_document_id", table_name="meeting_document")
    op.drop_table("meeting_document")
