"""usage windows: per-minute calls, tokens and spend per key and end user, for the volume detectors

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('usage_windows',
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('bucket', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('api_key', sa.String(length=600), nullable=True),
    sa.Column('user', sa.String(length=600), nullable=True),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('subject', 'bucket')
    )
    with op.batch_alter_table('usage_windows', schema=None) as batch_op:
        batch_op.create_index('ix_usage_windows_bucket', ['bucket'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('usage_windows', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_windows_bucket')

    op.drop_table('usage_windows')
