"""job runtime: a heartbeat per run and cancel requests for running jobs

Revision ID: 0008_job_runtime
Revises: 0007_contact_proposals
Create Date: 2026-12-02 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008_job_runtime"
down_revision = "0007_contact_proposals"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancel_requested_by_id", sa.Integer(), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_job_runs_cancel_requested_by_id_members"),
            "members",
            ["cancel_requested_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_job_runs_cancel_requested_by_id_members"),
            type_="foreignkey",
        )
        batch_op.drop_column("cancel_requested_by_id")
        batch_op.drop_column("cancel_requested_at")
        batch_op.drop_column("heartbeat_at")
