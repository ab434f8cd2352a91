"""session otp_verified_at: the OTP step-up for setting a password without the current one

A login records when it last proved the phone by an SMS code; setting or replacing a password
without the current one needs that proof from the last few minutes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("otp_verified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_column("otp_verified_at")
