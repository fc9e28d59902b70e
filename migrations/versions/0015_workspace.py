"""revision source "demo data": generated contacts carry the revision that
created them

Revision ID: 0015_workspace
Revises: 0014_moderation
Create Date: 2026-12-03 04:00:00.000000

Contacts loaded as demo data had no revision, so their pages showed no source
and no history. The revision source gains ``demo_data``, and every contact
that has no revision at all (only demo data is loaded that way) gets one that
created it, dated when the contact was.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015_workspace"
down_revision = "0014_moderation"
branch_labels = None
depends_on = None

OLD_SOURCES = ("form", "csv", "merge", "moderator", "subject", "operator_import")
NEW_SOURCES = (*OLD_SOURCES, "demo_data")
FIELDS = (
    ("first_name", "c.first_name"),
    ("last_name", "c.last_name"),
    ("title", "c.title"),
    ("company", "co.name"),
    ("email", "c.email"),
    ("phone", "c.phone"),
    ("city", "c.city"),
    ("country", "c.country"),
)


def _enum(values):
    return sa.Enum(
        *values,
        name="revision_source",
        native_enum=False,
        create_constraint=True,
        length=20,
    )


def _set_sources(old, new):
    with op.batch_alter_table("contact_revisions") as batch_op:
        batch_op.alter_column(
            "source",
            type_=_enum(new),
            existing_type=_enum(old),
            existing_nullable=False,
        )


def upgrade():
    _set_sources(OLD_SOURCES, NEW_SOURCES)
    pairs = ", ".join(f"'{name}', {column}" for name, column in FIELDS)
    if op.get_bind().dialect.name == "postgresql":
        fields = f"json_strip_nulls(json_build_object({pairs}))"
    else:
        fields = f"json_patch('{{}}', json_object({pairs}))"
    op.execute(
        "INSERT INTO contact_revisions (contact_id, kind, source, fields, created_at) "
        f"SELECT c.id, 'contribution', 'demo_data', {fields}, c.created_at "
        "FROM contacts c JOIN companies co ON co.id = c.company_id "
        "WHERE NOT EXISTS "
        "(SELECT 1 FROM contact_revisions r WHERE r.contact_id = c.id)"
    )


def downgrade():
    op.execute("DELETE FROM contact_revisions WHERE source = 'demo_data'")
    _set_sources(NEW_SOURCES, OLD_SOURCES)
