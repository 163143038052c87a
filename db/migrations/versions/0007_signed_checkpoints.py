"""Signed audit checkpoints: `audit_checkpoints.signature` (Ed25519 over the checkpoint's hash, hex)
and `key_id` (which key signed it). Both NULL on the checkpoints taken before.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN alters the table without writing its rows, so the append-only trigger stays quiet.
    with op.batch_alter_table('audit_checkpoints') as batch:
        batch.add_column(sa.Column('signature', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_checkpoints') as batch:
        batch.drop_column('key_id')
        batch.drop_column('signature')
