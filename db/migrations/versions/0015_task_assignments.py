"""Issue 14 items 3-4: each responsible unit's part of a published task (`task_assignments`), driven
through the hazards' transaction path; a task's state and closing; attachments and documents that
belong to a task list (evidence of a unit's part, the 任务交办通知 and 督办函) instead of a hazard.

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_assignments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unit_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('issuer_org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issuer_region_code', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('year_long', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_progress_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_progress', sa.Text(), nullable=True),
    sa.Column('completion_reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completion_reported_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('completion', sa.Text(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('returned_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('extension_new_deadline', sa.Date(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('extension_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extension_requested_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('extensions_granted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('escalation_step', sa.String(length=24), nullable=True),
    sa.Column('escalation_fired', sa.Integer(), server_default='0', nullable=False),
    sa.Column('progress_reminded', sa.String(length=7), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('audit_head', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('assigned','acknowledged','in_progress','reported','verified')", name=op.f('ck_task_assignments_state')),
    sa.ForeignKeyConstraint(['completion_reported_by_id'], ['users.id'], name=op.f('fk_task_assignments_completion_reported_by_id_users')),
    sa.ForeignKeyConstraint(['extension_requested_by_id'], ['users.id'], name=op.f('fk_task_assignments_extension_requested_by_id_users')),
    sa.ForeignKeyConstraint(['issuer_org_id'], ['organisations.id'], name=op.f('fk_task_assignments_issuer_org_id_organisations')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_task_assignments_org_id_organisations')),
    sa.ForeignKeyConstraint(['plan_id'], ['task_plans.id'], name=op.f('fk_task_assignments_plan_id_task_plans')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_task_assignments_region_code_regions')),
    sa.ForeignKeyConstraint(['task_id'], ['plan_tasks.id'], name=op.f('fk_task_assignments_task_id_plan_tasks')),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_task_assignments_verified_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_assignments')),
    sa.UniqueConstraint('task_id', 'org_id', name=op.f('uq_task_assignments_task_id_org_id'))
    )
    with op.batch_alter_table('task_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_assignments_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_assignments_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index('ix_task_assignments_state_deadline', ['state', 'deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_assignments_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.alter_column('hazard_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_attachments_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_attachments_assignment_id_task_assignments'), 'task_assignments', ['assignment_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_attachments_owner'), 'hazard_id IS NOT NULL OR assignment_id IS NOT NULL')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('assignment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.alter_column('hazard_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_documents_plan_id_task_plans'), 'task_plans', ['plan_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_documents_assignment_id_task_assignments'), 'task_assignments', ['assignment_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_documents_owner'), 'hazard_id IS NOT NULL OR plan_id IS NOT NULL')

    with op.batch_alter_table('plan_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=8), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('plan_tasks', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
        batch_op.drop_column('state')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_documents_owner'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_documents_assignment_id_task_assignments'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_documents_plan_id_task_plans'), type_='foreignkey')
        batch_op.alter_column('hazard_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=False)
        batch_op.drop_column('assignment_id')
        batch_op.drop_column('plan_id')

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_attachments_owner'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_attachments_assignment_id_task_assignments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_attachments_assignment_id'))
        batch_op.alter_column('hazard_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=False)
        batch_op.drop_column('assignment_id')

    with op.batch_alter_table('task_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_assignments_task_id'))
        batch_op.drop_index('ix_task_assignments_state_deadline')
        batch_op.drop_index(batch_op.f('ix_task_assignments_plan_id'))
        batch_op.drop_index(batch_op.f('ix_task_assignments_org_id'))

    op.drop_table('task_assignments')
