"""account tokens: one-time tokens for emailed links, and verified emails

Revision ID: 0006_account_tokens
Revises: 0005_search_index
Create Date: 2026-12-02 23:00:00.000000

Accounts that exist when this runs were created before verification was
asked for; they count as verified from their creation.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_account_tokens"
down_revision = "0005_search_index"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("selector", sa.String(length=32), nullable=False),
        sa.Column("verifier_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sa.UniqueConstraint("selector", name=op.f("uq_one_time_tokens_selector")),
    )
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_one_time_tokens_purpose_subject", ["purpose", "subject"], unique=False
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE members SET email_verified_at = created_at")


def downgrade():
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_one_time_tokens_purpose_subject")
    op.drop_table("one_time_tokens")
