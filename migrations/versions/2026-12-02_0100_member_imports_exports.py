"""member imports and exports: import runs, their refused rows, roster exports

Revision ID: 0600
Revises: 0400
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0600"
down_revision: str | Sequence[str] | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_import",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("upload_id", BigId, nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_row", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("checked_counts", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("report_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_member_import_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_member_import_org_id_org"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["upload.id"],
            name=op.f("fk_member_import_upload_id_upload"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_import")),
    )
    op.create_index("ix_member_import_org_id", "member_import", ["org_id", "id"])
    op.create_table(
        "member_import_row",
        sa.Column("import_id", BigId, nullable=False),
        sa.Column("row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["member_import.id"],
            name=op.f("fk_member_import_row_import_id_member_import"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "row", name=op.f("pk_member_import_row")),
    )
    op.create_table(
        "member_export",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("include_phones", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_member_export_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_member_export_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_export")),
    )
    op.create_index("ix_member_export_org_id", "member_export", ["org_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_member_export_org_id", table_name="member_export")
    op.drop_table("member_export")
    op.drop_table("member_import_row")
    op.drop_index("ix_member_import_org_id", table_name="member_import")
    op.drop_table("member_import")
