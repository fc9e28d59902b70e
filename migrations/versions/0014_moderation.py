"""moderation: claims, sweep findings with their evidence, member subjects

Revision ID: 0014_moderation
Revises: 0013_privacy
Create Date: 2026-12-03 03:30:00.000000

Flags gain when they were claimed (the queue shows who holds an item and
since when), the member a flag is about (the sweep's findings on a
contributor have no contact), the sweep's evidence, and a unique finding key
so that a rerun of the sweep never opens a second flag for one finding. Five
flag kinds for the sweep's findings widen the kind constraint.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_moderation"
down_revision = "0013_privacy"
branch_labels = None
depends_on = None

OLD_KINDS = (
    "wrong_info",
    "left_company",
    "duplicate",
    "personal_data",
    "domain_mismatch",
    "possible_duplicate",
    "proposed_change",
    "list_mismatch",  # 0012_lists
)
NEW_KINDS = (
    *OLD_KINDS,
    "near_duplicate",
    "contribution_burst",
    "roster_run",
    "high_upheld_rate",
    "domain_mismatches",
)


def _enum(values):
    return sa.Enum(
        *values, name="flag_kind", native_enum=False, create_constraint=True, length=20
    )


def upgrade():
    with op.batch_alter_table("flags") as batch_op:
        batch_op.alter_column(
            "kind",
            type_=_enum(NEW_KINDS),
            existing_type=_enum(OLD_KINDS),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("finding_key", sa.String(200), nullable=True))
        batch_op.create_foreign_key(
            "fk_flags_member_id_members",
            "members",
            ["member_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_flags_member_id", ["member_id"])
        batch_op.create_unique_constraint("uq_flags_finding_key", ["finding_key"])


def downgrade():
    op.execute(sa.text("DELETE FROM flags WHERE kind IN ({})".format(
        ", ".join(f"'{kind}'" for kind in NEW_KINDS[len(OLD_KINDS):])
    )))
    with op.batch_alter_table("flags") as batch_op:
        batch_op.drop_constraint("uq_flags_finding_key", type_="unique")
        batch_op.drop_index("ix_flags_member_id")
        batch_op.drop_constraint("fk_flags_member_id_members", type_="foreignkey")
        batch_op.drop_column("finding_key")
        batch_op.drop_column("evidence")
        batch_op.drop_column("member_id")
        batch_op.drop_column("claimed_at")
        batch_op.alter_column(
            "kind",
            type_=_enum(OLD_KINDS),
            existing_type=_enum(NEW_KINDS),
            existing_nullable=False,
        )
