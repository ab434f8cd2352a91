"""member imports: "transfers allowed" and who applied the import

Revision ID: 0720
Revises: 0714
Create Date: 2026-12-02 07:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0720"
down_revision: str | Sequence[str] | None = "0714"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Expand only: the previous code's inserts leave the flag false and the applier empty.
    with op.batch_alter_table("member_import", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allow_transfers", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("applied_by_id", BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_member_import_applied_by_id_member"),
            "member",
            ["applied_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("member_import", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_member_import_applied_by_id_member"), type_="foreignkey"
        )
        batch_op.drop_column("applied_by_id")
        batch_op.drop_column("allow_transfers")
