"""meeting.org_path: a copy of the branch's path, and a committee's meetings latest first

Revision ID: 0830
Revises: 0820
Create Date: 2026-12-03 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0830"
down_revision: str | Sequence[str] | None = "0820"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Depths with an index of their own (app.services.access.UNIT_DEPTHS at this revision).
DEPTHS = (1, 2)
# Byte-ordered, as every copy of a path (range predicates under the "C" collation).
PATH = sa.String(512).with_variant(sa.String(512, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("meeting") as batch:
        batch.add_column(sa.Column("org_path", PATH, nullable=True))
    op.execute(
        "UPDATE meeting SET org_path = (SELECT org.path FROM org WHERE org.id = meeting.org_id)"
    )
    with op.batch_alter_table("meeting") as batch:
        batch.alter_column("org_path", existing_type=PATH, nullable=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    for depth in DEPTHS:
        op.execute(
            f"CREATE INDEX ix_meeting_unit{depth}_starts_at ON meeting "
            f"(split_part(org_path, '/', {depth + 2}), starts_at, id)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for depth in DEPTHS:
            op.execute(f"DROP INDEX IF EXISTS ix_meeting_unit{depth}_starts_at")
    with op.batch_alter_table("meeting") as batch:
        batch.drop_column("org_path")
