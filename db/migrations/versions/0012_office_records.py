"""Issue 13's office records: self-inspection returns and on-the-spot fixes, monthly report
submissions (直报), the duties' escalation steps, the 通报 list and documents, 黑名单 decisions,
the 纪检监察 bodies, 问责移交 and 约谈 records, and the record chain (`record_events`, append-only
on PostgreSQL like the hazards' audit events). Hazards link to the return that found them.

Revision ID: 0012
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accountability_bodies',
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_accountability_bodies_region_code_regions')),
    sa.PrimaryKeyConstraint('region_code', name=op.f('pk_accountability_bodies'))
    )
    op.create_table('duty_steps',
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_duty_steps_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_duty_steps_region_code_regions')),
    sa.PrimaryKeyConstraint('subject', 'step', name=op.f('pk_duty_steps'))
    )
    with op.batch_alter_table('duty_steps', schema=None) as batch_op:
        batch_op.create_index('ix_duty_steps_month_step', ['month', 'step'], unique=False)

    op.create_table('blacklist_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quarter', sa.String(length=7), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('listed_from', sa.Date(), nullable=True),
    sa.Column('listed_until', sa.Date(), nullable=True),
    sa.Column('decided_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('listed','not_listed')", name=op.f('ck_blacklist_decisions_decision')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_blacklist_decisions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_blacklist_decisions_enterprise_id_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blacklist_decisions')),
    sa.UniqueConstraint('enterprise_id', 'quarter', name=op.f('uq_blacklist_decisions_enterprise_id_quarter'))
    )
    op.create_table('bulletins',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('issuer_name', sa.String(length=100), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('issued_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_bulletins_issued_by_id_users')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_bulletins_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletins')),
    sa.UniqueConstraint('number', name=op.f('uq_bulletins_number'))
    )
    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.create_index('ix_bulletins_region_month', ['region_code', 'month'], unique=False)

    op.create_table('record_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_record_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_events')),
    sa.UniqueConstraint('subject', 'seq', name=op.f('uq_record_events_subject_seq'))
    )
    op.create_table('report_submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('drafted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("state IN ('draft','submitted','returned','accepted')", name=op.f('ck_report_submissions_state')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_report_submissions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_report_submissions_region_code_regions')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_report_submissions_submitted_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_submissions')),
    sa.UniqueConstraint('region_code', 'month', name=op.f('uq_report_submissions_region_code_month'))
    )
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_report_submissions_month_state', ['month', 'state'], unique=False)

    op.create_table('self_inspections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('checked_from', sa.Date(), nullable=False),
    sa.Column('checked_to', sa.Date(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('principal', sa.String(length=100), nullable=False),
    sa.Column('nil_return', sa.Boolean(), nullable=False),
    sa.Column('earlier_state', sa.Text(), nullable=True),
    sa.Column('filed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_self_inspections_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['filed_by_id'], ['users.id'], name=op.f('fk_self_inspections_filed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_inspections')),
    sa.UniqueConstraint('enterprise_id', 'month', name=op.f('uq_self_inspections_enterprise_id_month'))
    )
    with op.batch_alter_table('self_inspections', schema=None) as batch_op:
        batch_op.create_index('ix_self_inspections_month', ['month'], unique=False)

    op.create_table('spot_fixes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('self_inspection_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=300), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('fixed_on', sa.Date(), nullable=False),
    sa.Column('evidence_filename', sa.String(length=255), nullable=False),
    sa.Column('evidence_content_type', sa.String(length=100), nullable=False),
    sa.Column('evidence_size', sa.Integer(), nullable=False),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_spot_fixes_created_by_id_users')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_spot_fixes_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['self_inspection_id'], ['self_inspections.id'], name=op.f('fk_spot_fixes_self_inspection_id_self_inspections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_fixes'))
    )
    with op.batch_alter_table('spot_fixes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_fixes_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_fixes_self_inspection_id'), ['self_inspection_id'], unique=False)

    op.create_table('bulletin_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('hazard_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('subject_region_code', sa.String(length=12), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('bulletin_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('overdue_hazard','missed_return','late_report','overdue_task')", name=op.f('ck_bulletin_items_kind')),
    sa.CheckConstraint("status IN ('proposed','included','excluded')", name=op.f('ck_bulletin_items_status')),
    sa.ForeignKeyConstraint(['bulletin_id'], ['bulletins.id'], name=op.f('fk_bulletin_items_bulletin_id_bulletins')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_bulletin_items_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_bulletin_items_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_bulletin_items_region_code_regions')),
    sa.ForeignKeyConstraint(['subject_region_code'], ['regions.code'], name=op.f('fk_bulletin_items_subject_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletin_items')),
    sa.UniqueConstraint('key', name=op.f('uq_bulletin_items_key'))
    )
    with op.batch_alter_table('bulletin_items', schema=None) as batch_op:
        batch_op.create_index('ix_bulletin_items_region_month', ['region_code', 'month'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('hazard_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('addressed_to', sa.String(length=100), nullable=False),
    sa.Column('facts', sa.Text(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=True),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('outcome_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('pending','accepted','investigating','concluded','declined')", name=op.f('ck_referrals_outcome')),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], name=op.f('fk_referrals_event_id_audit_events')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_referrals_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['outcome_by_id'], ['users.id'], name=op.f('fk_referrals_outcome_by_id_users')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_referrals_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('event_id', name=op.f('uq_referrals_event_id')),
    sa.UniqueConstraint('number', name=op.f('uq_referrals_number'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_hazard_id'), ['hazard_id'], unique=False)

    op.create_table('summonses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('hazard_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enterprise_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=True),
    sa.Column('attendees', sa.Text(), nullable=True),
    sa.Column('commitments', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_summonses_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], name=op.f('fk_summonses_event_id_audit_events')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_summonses_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_summonses_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_summonses_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summonses')),
    sa.UniqueConstraint('event_id', name=op.f('uq_summonses_event_id'))
    )
    with op.batch_alter_table('summonses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summonses_hazard_id'), ['hazard_id'], unique=False)

    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_inspection_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_hazards_self_inspection_id_self_inspections'), 'self_inspections', ['self_inspection_id'], ['id'])
    if op.get_bind().dialect.name == "postgresql":  # the function is migration 0001's
        op.execute(
            "CREATE TRIGGER record_events_append_only BEFORE UPDATE OR DELETE ON record_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER record_events_no_truncate BEFORE TRUNCATE ON record_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS record_events_append_only ON record_events")
        op.execute("DROP TRIGGER IF EXISTS record_events_no_truncate ON record_events")
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_hazards_self_inspection_id_self_inspections'), type_='foreignkey')
        batch_op.drop_column('self_inspection_id')

    with op.batch_alter_table('summonses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summonses_hazard_id'))

    op.drop_table('summonses')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_hazard_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('bulletin_items', schema=None) as batch_op:
        batch_op.drop_index('ix_bulletin_items_region_month')

    op.drop_table('bulletin_items')
    with op.batch_alter_table('spot_fixes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_fixes_self_inspection_id'))
        batch_op.drop_index(batch_op.f('ix_spot_fixes_enterprise_id'))

    op.drop_table('spot_fixes')
    with op.batch_alter_table('self_inspections', schema=None) as batch_op:
        batch_op.drop_index('ix_self_inspections_month')

    op.drop_table('self_inspections')
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_report_submissions_month_state')

    op.drop_table('report_submissions')
    op.drop_table('record_events')
    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.drop_index('ix_bulletins_region_month')

    op.drop_table('bulletins')
    op.drop_table('blacklist_decisions')
    with op.batch_alter_table('duty_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_duty_steps_month_step')

    op.drop_table('duty_steps')
    op.drop_table('accountability_bodies')
