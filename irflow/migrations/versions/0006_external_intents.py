"""external intents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('external_intents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('external_key', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('external_intents', schema=None) as batch_op:
        batch_op.create_index('ix_external_intents_incident', ['system', 'kind', 'incident_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('external_intents', schema=None) as batch_op:
        batch_op.drop_index('ix_external_intents_incident')

    op.drop_table('external_intents')

