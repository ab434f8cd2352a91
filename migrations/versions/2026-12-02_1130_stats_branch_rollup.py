"""stats branch rollup: each branch's meeting-quality counts per period, refreshed with the
statistics rollup

Revision ID: 0800
Revises: 0798
Create Date: 2026-12-02 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0800"
down_revision: str | Sequence[str] | None = "0798"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Lineage = sa.String(length=512).with_variant(sa.String(length=512, collation="C"), "postgresql")
# The branch counts (app.models.stats_rollup.SIGNAL_COUNTS at this revision).
SIGNAL_COUNTS = (
    "planned",
    "held",
    "agenda_on_time",
    "with_documents",
    "summoned",
    "present",
    "comments",
    "with_votes",
    "minutes_on_time",
    "minutes_missing",
    "tasks_due",
    "tasks_done_on_time",
    "rated_by_upper",
    "rated_lower_above",
)


def upgrade() -> None:
    # Expand only: nullable, so the previous release's refresh (which does not know it) still
    # writes its rows; a period without it answers the branch signals live until recounted.
    with op.batch_alter_table("stats_rollup_period") as batch:
        batch.add_column(sa.Column("signal_rules", sa.String(length=120), nullable=True))
    op.create_table(
        "stats_branch_rollup",
        sa.Column("period_kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("lineage", Lineage, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in SIGNAL_COUNTS),
        sa.Column("needs_attention", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
            name=op.f("fk_stats_branch_rollup_org_id_org"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "period_kind", "period_start", "org_id", name=op.f("pk_stats_branch_rollup")
        ),
    )
    op.create_index(
        "ix_stats_branch_rollup_lineage",
        "stats_branch_rollup",
        ["period_kind", "period_start", "lineage"],
    )
    op.create_index(
        "ix_stats_branch_rollup_attention",
        "stats_branch_rollup",
        ["period_kind", "period_start", "needs_attention", "org_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_stats_branch_rollup_attention", table_name="stats_branch_rollup")
    op.drop_index("ix_stats_branch_rollup_lineage", table_name="stats_branch_rollup")
    op.drop_table("stats_branch_rollup")
    with op.batch_alter_table("stats_rollup_period") as batch:
        batch.drop_column("signal_rules")
