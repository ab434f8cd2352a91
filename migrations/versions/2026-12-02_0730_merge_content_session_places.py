"""merged content keeps its origin for past statistics; coarse places of logins

Revision ID: 0730
Revises: 0720
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0730"
down_revision: str | Sequence[str] | None = "0720"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PLACES = ("place_city", "place_region", "place_country")


def upgrade() -> None:
    for table in ("document", "article"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("origin_org_id", BigId, nullable=True))
        op.create_index(
            f"ix_{table}_origin_org_id",
            table,
            ["origin_org_id", "status", "published_at"],
            unique=False,
        )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        for column in PLACES:
            batch_op.add_column(sa.Column(column, sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        for column in reversed(PLACES):
            batch_op.drop_column(column)
    for table in ("article", "document"):
        op.drop_index(f"ix_{table}_origin_org_id", table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("origin_org_id")
