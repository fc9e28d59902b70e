"""enterprise match lists: files, rows and results, match chunks; list disputes

Revision ID: 0012_lists
Revises: 0011_daily_rollup
Create Date: 2026-12-03 03:19:59.789496

``match_lists`` is an organisation's uploaded file (stored under instance/,
never in the database), its confirmed mapping, summary, quote and delivery;
``match_list_rows`` one outcome per data row; ``match_list_chunks`` the slices
of a match run that workers claim; ``pooling_consents`` each organisation
admin's pooling choice with the wording shown. Flags get the kind ``list_mismatch``: a
customer says a row was matched to the wrong person.
"""
from alembic import op
import sqlalchemy as sa

OLD_KINDS = (
    "wrong_info",
    "left_company",
    "duplicate",
    "personal_data",
    "domain_mismatch",
    "possible_duplicate",
    "proposed_change",
)
NEW_KINDS = (*OLD_KINDS, "list_mismatch")


def _flag_kinds(old, new):
    with op.batch_alter_table("flags") as batch_op:
        batch_op.alter_column(
            "kind",
            type_=sa.Enum(*new, name="flag_kind", native_enum=False, create_constraint=True, length=20),
            existing_type=sa.Enum(*old, name="flag_kind", native_enum=False, create_constraint=True, length=20),
            existing_nullable=False,
        )


# revision identifiers, used by Alembic.
revision = '0012_lists'
down_revision = '0011_daily_rollup'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('match_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('format', sa.Enum('csv', 'xlsx', name='list_format', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('state', sa.Enum('uploaded', 'mapping', 'matching', 'quoted', 'accepted', 'merging', 'delivered', 'expired', 'failed', name='list_state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('headings', sa.JSON(), nullable=False),
    sa.Column('headings_signature', sa.String(length=64), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('mapping_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('matched_rows', sa.Integer(), nullable=False),
    sa.Column('delivered_records', sa.Integer(), nullable=False),
    sa.Column('quote_lines', sa.JSON(), nullable=True),
    sa.Column('quote_total', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('quote_currency', sa.String(length=3), nullable=True),
    sa.Column('quoted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quote_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('match_run_id', sa.Integer(), nullable=True),
    sa.Column('merge_run_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('files_deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_interval', sa.Enum('weekly', 'monthly', name='refresh_interval', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('refresh_price_cap', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('next_refresh_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_of_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['refresh_of_id'], ['match_lists.id'], name=op.f('fk_match_lists_refresh_of_id_match_lists'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['members.id'], name=op.f('fk_match_lists_accepted_by_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_match_lists_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['match_run_id'], ['job_runs.id'], name=op.f('fk_match_lists_match_run_id_job_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merge_run_id'], ['job_runs.id'], name=op.f('fk_match_lists_merge_run_id_job_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_match_lists_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['members.id'], name=op.f('fk_match_lists_uploaded_by_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_lists'))
    )
    with op.batch_alter_table('match_lists', schema=None) as batch_op:
        batch_op.create_index('ix_match_lists_org_signature', ['organisation_id', 'headings_signature'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_lists_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('match_list_chunks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('match_run_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('stop', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'running', 'done', name='chunk_state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('claimed_by_run_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['match_lists.id'], name=op.f('fk_match_list_chunks_list_id_match_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_list_chunks')),
    sa.UniqueConstraint('list_id', 'match_run_id', 'start', name=op.f('uq_match_list_chunks_list_id_match_run_id_start'))
    )
    with op.batch_alter_table('match_list_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_list_chunks_list_id'), ['list_id'], unique=False)

    op.create_table('match_list_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=255), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('confidence', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('ours', sa.JSON(), nullable=False),
    sa.Column('field_key', sa.String(length=200), nullable=False),
    sa.Column('disputed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_match_list_rows_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['list_id'], ['match_lists.id'], name=op.f('fk_match_list_rows_list_id_match_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_list_rows')),
    sa.UniqueConstraint('list_id', 'position', name=op.f('uq_match_list_rows_list_id_position'))
    )
    with op.batch_alter_table('match_list_rows', schema=None) as batch_op:
        batch_op.create_index('ix_match_list_rows_list_status', ['list_id', 'status'], unique=False)
    op.create_table('pooling_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('opted_in', sa.Boolean(), nullable=False),
    sa.Column('wording', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_pooling_consents_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_pooling_consents_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pooling_consents'))
    )
    with op.batch_alter_table('pooling_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pooling_consents_organisation_id'), ['organisation_id'], unique=False)
    _flag_kinds(OLD_KINDS, NEW_KINDS)


def downgrade():
    with op.batch_alter_table('pooling_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pooling_consents_organisation_id'))
    op.drop_table('pooling_consents')
    op.execute("DELETE FROM flags WHERE kind = 'list_mismatch'")
    _flag_kinds(NEW_KINDS, OLD_KINDS)
    with op.batch_alter_table('match_list_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_match_list_rows_list_status')

    op.drop_table('match_list_rows')
    with op.batch_alter_table('match_list_chunks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_list_chunks_list_id'))

    op.drop_table('match_list_chunks')
    with op.batch_alter_table('match_lists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_lists_organisation_id'))
        batch_op.drop_index('ix_match_lists_org_signature')

    op.drop_table('match_lists')
