"""Working-day arrangements loaded by an admin (`calendar_years`): a year the calendar package does
not know yet (or one to correct), shared by every process of the deployment.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('holidays', sa.Text(), nullable=False),
    sa.Column('workdays', sa.Text(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years'))
    )


def downgrade() -> None:
    op.drop_table('calendar_years')
