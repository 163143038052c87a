"""Notifications: `users.email`, the per-recipient `deliveries` the outbox expands into, and the
users' `inbox_items`.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('email', sa.String(length=200), nullable=True))

    op.create_table('deliveries',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('outbox_id', BIG_ID, nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('user_id', BIG_ID, nullable=True),
    sa.Column('hazard_id', BIG_ID, nullable=True),
    sa.Column('dedupe_key', sa.String(length=400), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('inbox','email','webhook')", name=op.f('ck_deliveries_channel')),
    sa.CheckConstraint("status IN ('pending','sending','sent','dead')", name=op.f('ck_deliveries_status')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_deliveries_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_deliveries_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deliveries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_deliveries_dedupe_key'))
    )
    with op.batch_alter_table('deliveries') as batch:
        batch.create_index('ix_deliveries_status_available_at', ['status', 'available_at'], unique=False)

    op.create_table('inbox_items',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('user_id', BIG_ID, nullable=False),
    sa.Column('hazard_id', BIG_ID, nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=400), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('message','todo')", name=op.f('ck_inbox_items_kind')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_inbox_items_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inbox_items_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_items')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_inbox_items_dedupe_key'))
    )
    with op.batch_alter_table('inbox_items') as batch:
        batch.create_index('ix_inbox_items_user_id_id', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_items') as batch:
        batch.drop_index('ix_inbox_items_user_id_id')
    op.drop_table('inbox_items')
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_index('ix_deliveries_status_available_at')
    op.drop_table('deliveries')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('email')
