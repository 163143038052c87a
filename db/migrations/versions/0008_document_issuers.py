"""Each issuing body's own 机关代字 (`document_issuers`, unique codes), and numbers per 代字, kind
and year: the (issuer, year, seq) constraint goes (two kinds of one body now both have a 1号);
`documents.number` stays unique. Existing counters were per body and year under a one-character
short name that two bodies could share; they are left as they are (their keys are body keys, the
new counters' keys are 代字 plus kind, so the two never meet).

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_issuers',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_document_issuers')),
    sa.UniqueConstraint('code', name=op.f('uq_document_issuers_code'))
    )
    with op.batch_alter_table('documents') as batch:
        batch.drop_constraint(batch.f('uq_documents_issuer_year_seq'), type_='unique')


def downgrade() -> None:
    with op.batch_alter_table('documents') as batch:
        batch.create_unique_constraint(batch.f('uq_documents_issuer_year_seq'), ['issuer', 'year', 'seq'])
    op.drop_table('document_issuers')
