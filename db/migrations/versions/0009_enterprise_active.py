"""Enterprises can be disabled (`enterprises.active`): a closed or merged 生产经营单位 stays in
the records its hazards cite, but takes no new hazards and is left out of pickers and imports.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enterprises') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('enterprises') as batch:
        batch.drop_column('active')
