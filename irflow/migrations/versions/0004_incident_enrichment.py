"""incident enrichment

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enrichment', sa.JSON(), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('enrichment')


