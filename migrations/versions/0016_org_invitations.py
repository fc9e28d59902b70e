"""organisation invitations: org admins invite members by email

Revision ID: 0016_org_invitations
Revises: 0015_workspace
Create Date: 2026-12-03 03:50:00.000000

The emailed link itself is a one-time token (``one_time_tokens``); this table
is the org admin's view of each invitation and what became of it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_org_invitations"
down_revision = "0015_workspace"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "organisation_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "accepted",
                "revoked",
                name="invitation_state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_invitations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["members.id"],
            name=op.f("fk_organisation_invitations_invited_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["members.id"],
            name=op.f("fk_organisation_invitations_accepted_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_invitations")),
    )
    with op.batch_alter_table("organisation_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_invitations_organisation_id"),
            ["organisation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_organisation_invitations_email_key"),
            ["email_key"],
            unique=False,
        )


def downgrade():
    op.drop_table("organisation_invitations")
