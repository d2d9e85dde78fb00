"""slas, serious incidents, suppression, merge

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('suppression_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('actor', sa.String(length=600), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suppressed_by', sa.Integer(), nullable=True))
        batch_op.alter_column('incident_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=True)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tta_breached_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ttc_breached_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('serious', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.String(length=40), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('merged_into')
        batch_op.drop_column('serious')
        batch_op.drop_column('ttc_breached_at')
        batch_op.drop_column('tta_breached_at')
        batch_op.drop_column('acknowledged_at')

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.alter_column('incident_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=False)
        batch_op.drop_column('suppressed_by')

    op.drop_table('suppression_rules')

