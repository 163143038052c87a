"""一张表: each enterprise's supervising department (行业主管部门) and the official responsible for
its supervision (监管责任人). Nullable: an enterprise without them is listed as such, so none is
left without one for long.

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('enterprises') as batch:
        batch.add_column(sa.Column('supervising_department', sa.String(100), nullable=True))
        batch.add_column(sa.Column('responsible_official', sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enterprises') as batch:
        batch.drop_column('responsible_official')
        batch.drop_column('supervising_department')
