"""document_branch_reads: opened and studied counts of a document per branch, for coverage

Revision ID: 0714
Revises: 0712
Create Date: 2026-12-02 07:14:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0714"
down_revision: str | Sequence[str] | None = "0712"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "document_branch_reads",
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("branch_id", BigId, nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("studied", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_branch_reads_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["org.id"],
            name=op.f("fk_document_branch_reads_branch_id_org"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "branch_id", name=op.f("pk_document_branch_reads")),
    )
    # The receipts so far, counted in the branch each reader is in now.
    op.execute(
        "INSERT INTO document_branch_reads (document_id, branch_id, opened, studied) "
        "SELECT r.document_id, m.branch_id, COUNT(r.opened_at), COUNT(r.studied_at) "
        "FROM document_receipt r JOIN member m ON m.id = r.member_id "
        "GROUP BY r.document_id, m.branch_id"
    )


def downgrade() -> None:
    op.drop_table("document_branch_reads")
