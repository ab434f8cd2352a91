"""membership history: periods of membership, org placements over time, archived members

Every existing member gets one open period in their current branch with their current status
and exemption, and every org one open placement at its current path, both "since before
history was kept" (`valid_from` null): the past before this migration reads as today's state.

Revision ID: 0500
Revises: 0200
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0500"
down_revision: str | Sequence[str] | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Lineage = sa.String(length=512).with_variant(sa.String(length=512, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("archive_reason", sa.String(length=16), nullable=True))
    op.create_table(
        "membership_period",
        sa.Column("id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_exempt", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("exemption_ref", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_membership_period_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
            name=op.f("fk_membership_period_org_id_org"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_period")),
    )
    op.create_index(
        "ix_membership_period_member_id",
        "membership_period",
        ["member_id", "kind", "valid_from"],
    )
    op.create_index("ix_membership_period_org_id", "membership_period", ["org_id", "valid_from"])
    op.create_table(
        "org_placement",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("parent_id", BigId, nullable=True),
        sa.Column("lineage", Lineage, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_org_placement_org_id_org"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["org.id"],
            name=op.f("fk_org_placement_parent_id_org"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_placement")),
    )
    op.create_index("ix_org_placement_org_id", "org_placement", ["org_id", "valid_from"])
    op.create_index("ix_org_placement_lineage", "org_placement", ["lineage"])

    # Backfill: today's state, since before history was kept.
    now = sa.literal(datetime.now(UTC), sa.DateTime(timezone=True))
    member = sa.table(
        "member",
        sa.column("id"),
        sa.column("branch_id"),
        sa.column("status"),
        sa.column("is_exempt"),
    )
    period = sa.table(
        "membership_period",
        sa.column("member_id"),
        sa.column("org_id"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("is_exempt"),
        sa.column("created_at"),
    )
    op.execute(
        period.insert().from_select(
            ["member_id", "org_id", "kind", "status", "is_exempt", "created_at"],
            sa.select(
                member.c.id,
                member.c.branch_id,
                sa.literal("primary"),
                member.c.status,
                member.c.is_exempt,
                now,
            ),
        )
    )
    org = sa.table("org", sa.column("id"), sa.column("parent_id"), sa.column("path"))
    placement = sa.table(
        "org_placement",
        sa.column("org_id"),
        sa.column("parent_id"),
        sa.column("lineage"),
        sa.column("created_at"),
    )
    op.execute(
        placement.insert().from_select(
            ["org_id", "parent_id", "lineage", "created_at"],
            sa.select(org.c.id, org.c.parent_id, org.c.path, now),
        )
    )


def downgrade() -> None:
    op.drop_index("ix_org_placement_lineage", table_name="org_placement")
    op.drop_index("ix_org_placement_org_id", table_name="org_placement")
    op.drop_table("org_placement")
    op.drop_index("ix_membership_period_org_id", table_name="membership_period")
    op.drop_index("ix_membership_period_member_id", table_name="membership_period")
    op.drop_table("membership_period")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("archive_reason")
        batch_op.drop_column("archived_on")
