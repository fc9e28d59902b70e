"""contact proposals: flags by source with the values a member proposed;
answers about known contacts; keyed IP hashes on revisions and confirmations

Revision ID: 0007_contact_proposals
Revises: 0006_account_tokens
Create Date: 2026-12-02 23:00:00.000000

A member's update that would hold a contact is no longer applied: it waits in
``flags.proposal`` for a moderator. Flag sources are renamed to the kinds the
moderation queue filters on: ``challenge`` -> ``member``, ``entry_check`` ->
``entry``. ``contact_lookups`` records every answer that told a member a person
or an email is known, for the daily limit on them. Revisions and confirmations
(and contribution files) keep a keyed hash of the IP (never the IP) to tell independent confirmations.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007_contact_proposals"
down_revision = "0006_account_tokens"
branch_labels = None
depends_on = None

OLD_SOURCES = ("challenge", "entry_check", "subject", "customer", "sweep")
NEW_SOURCES = ("member", "entry", "customer", "subject", "sweep")
RENAMED = {"challenge": "member", "entry_check": "entry"}
OLD_KINDS = (
    "wrong_info",
    "left_company",
    "duplicate",
    "personal_data",
    "domain_mismatch",
    "possible_duplicate",
)
NEW_KINDS = (*OLD_KINDS, "proposed_change")


def _enum(values, name):
    return sa.Enum(
        *values, name=name, native_enum=False, create_constraint=True, length=20
    )


def _swap_sources(old, new, renamed):
    # Widen the constraint to both spellings, rename, then narrow it.
    both = tuple(dict.fromkeys((*old, *new)))
    with op.batch_alter_table("flags") as batch_op:
        batch_op.alter_column(
            "source",
            type_=_enum(both, "flag_source"),
            existing_type=_enum(old, "flag_source"),
            existing_nullable=False,
        )
    for before, after in renamed.items():
        op.execute(
            sa.text("UPDATE flags SET source = :after WHERE source = :before").bindparams(
                before=before, after=after
            )
        )
    with op.batch_alter_table("flags") as batch_op:
        batch_op.alter_column(
            "source",
            type_=_enum(new, "flag_source"),
            existing_type=_enum(both, "flag_source"),
            existing_nullable=False,
        )


def upgrade():
    _swap_sources(OLD_SOURCES, NEW_SOURCES, RENAMED)
    with op.batch_alter_table("flags") as batch_op:
        batch_op.alter_column(
            "kind",
            type_=_enum(NEW_KINDS, "flag_kind"),
            existing_type=_enum(OLD_KINDS, "flag_kind"),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("proposal", sa.JSON(), nullable=True))
    op.create_table(
        "contact_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("channel", _enum(("form", "csv", "update", "live"), "lookup_channel"), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contact_lookups_contact_id_contacts"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_contact_lookups_member_id_members"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["revision_id"], ["contact_revisions.id"], name=op.f("fk_contact_lookups_revision_id_contact_revisions"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_lookups")),
    )
    with op.batch_alter_table("contact_lookups") as batch_op:
        batch_op.create_index("ix_contact_lookups_member_created", ["member_id", "created_at"], unique=False)
    for table in ("contact_revisions", "contact_confirmations", "contribution_files"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("ip_hash", sa.String(length=64), nullable=True))


def downgrade():
    for table in ("contact_revisions", "contact_confirmations", "contribution_files"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("ip_hash")
    with op.batch_alter_table("contact_lookups") as batch_op:
        batch_op.drop_index("ix_contact_lookups_member_created")
    op.drop_table("contact_lookups")
    op.execute(sa.text("DELETE FROM flags WHERE kind = 'proposed_change'"))
    with op.batch_alter_table("flags") as batch_op:
        batch_op.drop_column("proposal")
        batch_op.alter_column(
            "kind",
            type_=_enum(OLD_KINDS, "flag_kind"),
            existing_type=_enum(NEW_KINDS, "flag_kind"),
            existing_nullable=False,
        )
    _swap_sources(NEW_SOURCES, OLD_SOURCES, {v: k for k, v in RENAMED.items()})
