"""member unit indexes: a ward's or grassroots committee's members in name order (PostgreSQL)

Revision ID: 0798
Revises: 0780
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0798"
down_revision: str | Sequence[str] | None = "0780"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Depths with an index of their own (app.services.access.UNIT_DEPTHS at this revision).
DEPTHS = (1, 2)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for depth in DEPTHS:
        op.execute(
            f"CREATE INDEX ix_member_unit{depth}_sort_key ON member "
            f"(split_part(org_path, '/', {depth + 2}), sort_key, id) WHERE archived_on IS NULL"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for depth in DEPTHS:
        op.execute(f"DROP INDEX IF EXISTS ix_member_unit{depth}_sort_key")
