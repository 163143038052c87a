"""Official documents: `documents` (the issued HTML and its SHA-256) and `document_sequences`
(the gapless number of each issuing body and year).

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('document_sequences',
    sa.Column('issuer', sa.String(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('issuer', 'year', name=op.f('pk_document_sequences'))
    )
    op.create_table('documents',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('hazard_id', BIG_ID, nullable=False),
    sa.Column('outbox_id', BIG_ID, nullable=False),
    sa.Column('event_id', BIG_ID, nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('issuer', sa.String(length=32), nullable=False),
    sa.Column('issuer_name', sa.String(length=100), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], name=op.f('fk_documents_event_id_audit_events')),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], name=op.f('fk_documents_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_documents_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('issuer', 'year', 'seq', name=op.f('uq_documents_issuer_year_seq')),
    sa.UniqueConstraint('number', name=op.f('uq_documents_number')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_documents_outbox_id'))
    )
    with op.batch_alter_table('documents') as batch:
        batch.create_index('ix_documents_hazard_id_id', ['hazard_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.drop_index('ix_documents_hazard_id_id')
    op.drop_table('documents')
    op.drop_table('document_sequences')
