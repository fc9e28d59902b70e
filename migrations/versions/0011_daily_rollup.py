"""daily roll-up for the admin dashboard, and the indexes its live figures use

Revision ID: 0011_daily_rollup
Revises: 0005_search_index
Create Date: 2026-12-02 23:10:00.000000

``daily_metrics`` holds one figure per (day, metric), written by the
``roll_up_daily_metrics`` job. The created_at / vested_at indexes let the
dashboard count the days after the last roll-up (today's partial day) without
scanning millions of rows; the audit target index serves the audit log filter.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_daily_rollup"
down_revision = "0005_search_index"
branch_labels = None
depends_on = None

# (table, index name, columns)
INDEXES = (
    ("members", "ix_members_created_at", ["created_at"]),
    ("member_sessions", "ix_member_sessions_created_at", ["created_at"]),
    ("contact_revisions", "ix_contact_revisions_created_at", ["created_at"]),
    ("unlocks", "ix_unlocks_created_at", ["created_at"]),
    ("ledger_entries", "ix_ledger_entries_created_at", ["created_at"]),
    ("ledger_entries", "ix_ledger_entries_vested_at", ["vested_at"]),
    ("audit_entries", "ix_audit_entries_target", ["target_type", "target_id"]),
)


def upgrade():
    op.create_table(
        "daily_metrics",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", name=op.f("pk_daily_metrics")),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("daily_metrics")
