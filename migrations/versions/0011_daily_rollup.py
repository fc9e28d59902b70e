"""daily roll-up for the admin dashboard, and the indexes its live figures use

Revision ID: 0011_daily_rollup
Revises: 0010_billing
Create Date: 2026-12-02 23:10:00.000000

``daily_metrics`` holds one figure per (day, metric), written by the
``roll_up_daily_metrics`` job. The created_at / vested_at indexes let the
dashboard count the days after the last roll-up (today's partial day) without
scanning millions of rows; the audit target index serves the audit log filter.

``contact_state_counts`` keeps the number of contacts in each state, so the
dashboard never counts a million rows: the sum of ``contacts`` over a state's
rows is its count. Triggers keep it in step with every write to contacts,
whoever makes it (the ORM, bulk COPY or executemany, raw SQL, erasure):

* SQLite (one writer at a time): row triggers add to the state's one row.
* PostgreSQL: statement triggers with transition tables append one row per
  state a statement changed (a COPY of 50,000 contacts adds one row), so
  concurrent writers never wait on a shared counter row. The roll-up job
  folds the appended rows back into one per state.

Keep in mind, as for 0005: a later migration that makes SQLite recreate
``contacts`` (batch mode) drops these triggers; it must create them again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_daily_rollup"
down_revision = "0010_billing"
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


STATES = ("active", "held", "disputed", "graveyard")

SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER contact_state_counts_insert AFTER INSERT ON contacts
    BEGIN
        INSERT INTO contact_state_counts (state, contacts)
        SELECT NEW.state, 0 WHERE NOT EXISTS
            (SELECT 1 FROM contact_state_counts WHERE state = NEW.state);
        UPDATE contact_state_counts SET contacts = contacts + 1
        WHERE id = (SELECT min(id) FROM contact_state_counts WHERE state = NEW.state);
    END
    """,
    """
    CREATE TRIGGER contact_state_counts_delete AFTER DELETE ON contacts
    BEGIN
        UPDATE contact_state_counts SET contacts = contacts - 1
        WHERE id = (SELECT min(id) FROM contact_state_counts WHERE state = OLD.state);
    END
    """,
    """
    CREATE TRIGGER contact_state_counts_update AFTER UPDATE OF state ON contacts
    WHEN OLD.state IS NOT NEW.state
    BEGIN
        INSERT INTO contact_state_counts (state, contacts)
        SELECT NEW.state, 0 WHERE NOT EXISTS
            (SELECT 1 FROM contact_state_counts WHERE state = NEW.state);
        UPDATE contact_state_counts SET contacts = contacts - 1
        WHERE id = (SELECT min(id) FROM contact_state_counts WHERE state = OLD.state);
        UPDATE contact_state_counts SET contacts = contacts + 1
        WHERE id = (SELECT min(id) FROM contact_state_counts WHERE state = NEW.state);
    END
    """,
)

POSTGRES_FUNCTION = """
CREATE FUNCTION contact_state_counts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_state_counts (state, contacts)
        SELECT state, count(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO contact_state_counts (state, contacts)
        SELECT state, -count(*) FROM old_rows GROUP BY state;
    ELSE
        INSERT INTO contact_state_counts (state, contacts)
        SELECT moved.state, sum(moved.change)
        FROM (
            SELECT before.state, -1 AS change
            FROM old_rows AS before JOIN new_rows AS after ON after.id = before.id
            WHERE after.state <> before.state
            UNION ALL
            SELECT after.state, 1
            FROM old_rows AS before JOIN new_rows AS after ON after.id = before.id
            WHERE after.state <> before.state
        ) AS moved
        GROUP BY moved.state;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER contact_state_counts_insert AFTER INSERT ON contacts "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION contact_state_counts_changed()",
    "CREATE TRIGGER contact_state_counts_delete AFTER DELETE ON contacts "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION contact_state_counts_changed()",
    "CREATE TRIGGER contact_state_counts_update AFTER UPDATE ON contacts "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION contact_state_counts_changed()",
)


def upgrade():
    op.create_table(
        "contact_state_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("contacts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_state_counts")),
    )
    op.create_index(
        "ix_contact_state_counts_state", "contact_state_counts", ["state"]
    )
    op.execute(
        "INSERT INTO contact_state_counts (state, contacts) "
        "SELECT state, count(*) FROM contacts GROUP BY state"
    )
    for state in STATES:
        op.execute(
            "INSERT INTO contact_state_counts (state, contacts) "
            f"SELECT '{state}', 0 WHERE NOT EXISTS "
            f"(SELECT 1 FROM contact_state_counts WHERE state = '{state}')"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
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
    for name in ("insert", "delete", "update"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER contact_state_counts_{name} ON contacts")
        else:
            op.execute(f"DROP TRIGGER contact_state_counts_{name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION contact_state_counts_changed()")
    op.drop_table("contact_state_counts")
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("daily_metrics")
