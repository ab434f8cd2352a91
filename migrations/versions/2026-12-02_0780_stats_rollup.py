"""stats rollup: each org's subtree counts per period, refreshed by the worker

Revision ID: 0780
Revises: 0730
Create Date: 2026-12-02 07:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0780"
down_revision: str | Sequence[str] | None = "0730"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Lineage = sa.String(length=512).with_variant(sa.String(length=512, collation="C"), "postgresql")
# The additive counts (app.models.stats_rollup.COUNTS at this revision).
COUNTS = (
    "eligible",
    "activated",
    "monthly_active",
    "active_in_period",
    "readers",
    "studiers",
    "points_total",
    "reaching_target",
    "answered",
    "branches",
    "branches_meeting",
    "planned",
    "held",
    "with_minutes",
    "summoned",
    "present",
    "rated_good",
    "rated_fair",
    "rated_average",
    "rated_poor",
    "rated_unrated",
    "documents_published",
    "articles_published",
)


def upgrade() -> None:
    op.create_table(
        "stats_rollup_period",
        sa.Column("period_kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("target_points", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_frozen", sa.Boolean(), nullable=False),
        sa.Column("is_stale", sa.Boolean(), nullable=False),
        sa.Column("orgs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period_kind", "period_start", name=op.f("pk_stats_rollup_period")),
    )
    op.create_table(
        "stats_rollup",
        sa.Column("period_kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("lineage", Lineage, nullable=False),
        *(
            sa.Column(
                name, sa.BigInteger() if name == "points_total" else sa.Integer(), nullable=False
            )
            for name in COUNTS
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_stats_rollup_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "period_kind", "period_start", "org_id", name=op.f("pk_stats_rollup")
        ),
    )


def downgrade() -> None:
    op.drop_table("stats_rollup")
    op.drop_table("stats_rollup_period")
