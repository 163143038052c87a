"""The escalation ladder's at-most-once record: one bit per step in `hazards.escalation_fired`;
`escalation_step` widened for the non-deadline steps' names.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hazards') as batch:
        batch.add_column(sa.Column('escalation_fired', sa.Integer(), server_default='0', nullable=False))
        batch.alter_column('escalation_step', existing_type=sa.String(length=16), type_=sa.String(length=32),
                           existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('hazards') as batch:
        batch.alter_column('escalation_step', existing_type=sa.String(length=32), type_=sa.String(length=16),
                           existing_nullable=True)
        batch.drop_column('escalation_fired')
