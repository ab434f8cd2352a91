"""meeting guests and residence attendees: why each member is on a meeting's list, and whether
a meeting (by default its branch) summons the members attached for residence

Revision ID: 0810
Revises: 0800
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0810"
down_revision: str | Sequence[str] | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Expand only: server defaults, so the previous release's inserts still work.
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="member", nullable=False)
        )
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "has_residence_attendees",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
            )
        )
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "has_residence_attendees",
                sa.Boolean(),
                server_default=sa.text("false"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.drop_column("has_residence_attendees")
    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_column("has_residence_attendees")
    with op.batch_alter_table("meeting_attendee", schema=None) as batch_op:
        batch_op.drop_column("kind")
