"""content: documents, relays, receipts, extracted sections and articles

Revision ID: 0300
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0300"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("title_folded", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_folded", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("cover_storage_key", sa.String(length=255), nullable=True),
        sa.Column("cover_content_type", sa.String(length=128), nullable=True),
        sa.Column("is_important", sa.Boolean(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by_id", BigId, nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_article_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_article_org_id_org"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["member.id"],
            name=op.f("fk_article_published_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
    )
    op.create_index(
        "ix_article_org_id", "article", ["org_id", "status", "published_at", "id"], unique=False
    )
    if op.get_context().dialect.name == "postgresql":
        op.create_index(
            "ix_article_title_folded_trgm",
            "article",
            ["title_folded"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
        )
    op.create_table(
        "document",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("number_key", sa.String(length=80), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("title_folded", sa.String(length=300), nullable=False),
        sa.Column("issuing_body", sa.String(length=200), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_folded", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("is_confidential", sa.Boolean(), nullable=False),
        sa.Column("is_important", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("extraction_status", sa.String(length=16), nullable=False),
        sa.Column("extraction_error", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by_id", BigId, nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_document_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_document_org_id_org"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["member.id"],
            name=op.f("fk_document_published_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
    )
    op.create_index(
        "ix_document_org_id", "document", ["org_id", "status", "published_at", "id"], unique=False
    )
    if op.get_context().dialect.name == "postgresql":
        op.create_index(
            "ix_document_title_folded_trgm",
            "document",
            ["title_folded"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
        )
    op.create_table(
        "article_read",
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_read_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_article_read_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "member_id", name=op.f("pk_article_read")),
    )
    op.create_table(
        "article_transition",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["member.id"],
            name=op.f("fk_article_transition_actor_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_transition_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_transition")),
    )
    op.create_index(
        "ix_article_transition_article_id", "article_transition", ["article_id", "id"], unique=False
    )
    op.create_table(
        "document_file",
        sa.Column("id", BigId, nullable=False),
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("upload_id", BigId, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_file_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["upload.id"],
            name=op.f("fk_document_file_upload_id_upload"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_file")),
    )
    op.create_index(
        "ix_document_file_document_id", "document_file", ["document_id", "position"], unique=False
    )
    op.create_table(
        "document_receipt",
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("studied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position_section", sa.Integer(), nullable=True),
        sa.Column("position_offset", sa.Integer(), nullable=True),
        sa.Column("position_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_receipt_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_document_receipt_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "member_id", name=op.f("pk_document_receipt")),
    )
    op.create_index(
        "ix_document_receipt_member_id",
        "document_receipt",
        ["member_id", "document_id"],
        unique=False,
    )
    op.create_table(
        "document_relay",
        sa.Column("id", BigId, nullable=False),
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("plan_storage_key", sa.String(length=255), nullable=True),
        sa.Column("plan_filename", sa.String(length=255), nullable=True),
        sa.Column("plan_content_type", sa.String(length=128), nullable=True),
        sa.Column("plan_size", sa.BigInteger(), nullable=True),
        sa.Column("relayed_by_id", BigId, nullable=True),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_relay_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_document_relay_org_id_org"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["relayed_by_id"],
            ["member.id"],
            name=op.f("fk_document_relay_relayed_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_relay")),
        sa.UniqueConstraint(
            "document_id", "org_id", name=op.f("uq_document_relay_document_id_org_id")
        ),
    )
    op.create_index("ix_document_relay_org_id", "document_relay", ["org_id", "id"], unique=False)
    op.create_table(
        "document_section",
        sa.Column("id", BigId, nullable=False),
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_document_section_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_section")),
        sa.UniqueConstraint(
            "document_id", "position", name=op.f("uq_document_section_document_id_position")
        ),
    )

    op.create_table(
        "packet",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("public_token", sa.String(length=64), nullable=True),
        sa.Column("public_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["member.id"],
            name=op.f("fk_packet_created_by_id_member"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["org.id"], name=op.f("fk_packet_org_id_org"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packet")),
        sa.UniqueConstraint("public_token", name=op.f("uq_packet_public_token")),
    )
    op.create_index("ix_packet_org_id", "packet", ["org_id", "id"], unique=False)
    op.create_table(
        "packet_item",
        sa.Column("id", BigId, nullable=False),
        sa.Column("packet_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("document_id", BigId, nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_packet_item_document_id_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["packet_id"],
            ["packet.id"],
            name=op.f("fk_packet_item_packet_id_packet"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packet_item")),
    )
    op.create_index(
        "ix_packet_item_packet_id", "packet_item", ["packet_id", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_packet_item_packet_id", table_name="packet_item")
    op.drop_table("packet_item")
    op.drop_index("ix_packet_org_id", table_name="packet")
    op.drop_table("packet")
    op.drop_table("document_section")
    op.drop_index("ix_document_relay_org_id", table_name="document_relay")
    op.drop_table("document_relay")
    op.drop_index("ix_document_receipt_member_id", table_name="document_receipt")
    op.drop_table("document_receipt")
    op.drop_index("ix_document_file_document_id", table_name="document_file")
    op.drop_table("document_file")
    op.drop_index("ix_article_transition_article_id", table_name="article_transition")
    op.drop_table("article_transition")
    op.drop_table("article_read")
    if op.get_context().dialect.name == "postgresql":
        op.drop_index(
            "ix_document_title_folded_trgm",
            table_name="document",
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
        )
    op.drop_index("ix_document_org_id", table_name="document")
    op.drop_table("document")
    if op.get_context().dialect.name == "postgresql":
        op.drop_index(
            "ix_article_title_folded_trgm",
            table_name="article",
            postgresql_using="gin",
            postgresql_ops={"title_folded": "gin_trgm_ops"},
        )
    op.drop_index("ix_article_org_id", table_name="article")
    op.drop_table("article")
