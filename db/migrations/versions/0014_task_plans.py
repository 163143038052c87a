"""Issue 14 item 2: imported task lists kept as plans (draft → published) with their tasks and each
task's units as written and as resolved; the same file from the same issuer is one plan.

Revision ID: 0014
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_plans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('issuer_org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('source_filename', sa.String(length=255), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("state IN ('draft','published')", name=op.f('ck_task_plans_state')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_task_plans_created_by_id_users')),
    sa.ForeignKeyConstraint(['issuer_org_id'], ['organisations.id'], name=op.f('fk_task_plans_issuer_org_id_organisations')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_task_plans_published_by_id_users')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_task_plans_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_plans')),
    sa.UniqueConstraint('issuer_org_id', 'source_sha256', name=op.f('uq_task_plans_issuer_org_id_source_sha256'))
    )
    with op.batch_alter_table('task_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_plans_region_code'), ['region_code'], unique=False)

    op.create_table('plan_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=200), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=400), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('deadline_text', sa.String(length=200), nullable=False),
    sa.Column('flags', sa.Text(), nullable=False),
    sa.Column('reviewed', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['task_plans.id'], name=op.f('fk_plan_tasks_plan_id_task_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_tasks')),
    sa.UniqueConstraint('plan_id', 'seq', name=op.f('uq_plan_tasks_plan_id_seq'))
    )
    with op.batch_alter_table('plan_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_tasks_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_task_units',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('org_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('org_ids', sa.Text(), nullable=False),
    sa.Column('resolved_as', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_plan_task_units_org_id_organisations')),
    sa.ForeignKeyConstraint(['task_id'], ['plan_tasks.id'], name=op.f('fk_plan_task_units_task_id_plan_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_task_units')),
    sa.UniqueConstraint('task_id', 'seq', name=op.f('uq_plan_task_units_task_id_seq'))
    )
    with op.batch_alter_table('plan_task_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_task_units_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('plan_task_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_task_units_task_id'))

    op.drop_table('plan_task_units')
    with op.batch_alter_table('plan_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_tasks_plan_id'))

    op.drop_table('plan_tasks')
    with op.batch_alter_table('task_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_plans_region_code'))

    op.drop_table('task_plans')
