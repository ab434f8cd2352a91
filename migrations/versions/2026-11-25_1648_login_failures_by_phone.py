"""login failures by phone: one lockout for known and unknown numbers

Password failures move from counters on `member` to rows keyed by phone, so a number that is
not on the roster locks out the same way as one that is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 16:48:39.199348
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_failure_phone_created_at", ["phone", "created_at"], unique=False
        )

    # contract: dropped before the first release (no deployed code read these counters)
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("failed_login_at")
        batch_op.drop_column("failed_login_count")


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "failed_login_count", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("failed_login_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_phone_created_at")

    op.drop_table("login_failure")
