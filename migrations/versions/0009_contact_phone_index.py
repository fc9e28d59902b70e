"""contacts by phone: an index for the list matcher's phone look-ups

Revision ID: 0009_contact_phone_index
Revises: 0008_job_runtime
Create Date: 2026-12-02 23:30:00

The batch matcher (portal.matching.batch) looks every chunk's phone numbers
up in one query; without an index that query reads every contact. A plain
CREATE INDEX: SQLite does not recreate the table, so the search index's
triggers on contacts stay.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0009_contact_phone_index"
down_revision = "0008_job_runtime"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_contacts_phone", "contacts", ["phone"], unique=False)


def downgrade():
    op.drop_index("ix_contacts_phone", table_name="contacts")
