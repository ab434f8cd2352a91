"""document_unit_reads.parent_id: each counter row carries its org's parent, so an org's coverage
report reads its children's rows as one index range instead of one probe per child

Revision ID: 0840
Revises: 0830
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0840"
down_revision: str | Sequence[str] | None = "0830"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INDEX = "ix_document_unit_reads_document_id_parent_id"


def upgrade() -> None:
    # Nullable: the previous release's code, serving while this runs and until its processes
    # are replaced, adds counter rows without a parent (`handbook db recount` after the rollout
    # gives them one, README "Upgrades"). The rows there now get their org's parent.
    with op.batch_alter_table("document_unit_reads") as batch:
        batch.add_column(sa.Column("parent_id", BigId, nullable=True))
    op.execute(
        "UPDATE document_unit_reads SET parent_id = "
        "(SELECT org.parent_id FROM org WHERE org.id = document_unit_reads.org_id)"
    )
    op.create_index(INDEX, "document_unit_reads", ["document_id", "parent_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="document_unit_reads")
    with op.batch_alter_table("document_unit_reads") as batch:
        batch.drop_column("parent_id")
