"""Request throttles shared by every API process (`rate_buckets`: tracking-code lookups per client),
and an index on `idempotency_keys.created_at` so the retention purge does not scan the table.
Stored answers of requests with an empty Idempotency-Key are dropped: an empty key is refused from
now on, and those rows (with an empty request hash) once answered unrelated requests.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_buckets',
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('bucket', name=op.f('pk_rate_buckets'))
    )
    with op.batch_alter_table('idempotency_keys') as batch:
        batch.create_index(batch.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)
    op.execute("DELETE FROM idempotency_keys WHERE key = '' OR request_hash = ''")


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys') as batch:
        batch.drop_index(batch.f('ix_idempotency_keys_created_at'))
    op.drop_table('rate_buckets')
