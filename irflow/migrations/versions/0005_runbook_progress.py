"""runbook progress and incident assignee

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('runbook_progress',
    sa.Column('incident_id', sa.String(length=40), nullable=False),
    sa.Column('step_id', sa.String(length=120), nullable=False),
    sa.Column('done_by', sa.String(length=255), nullable=False),
    sa.Column('done_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('incident_id', 'step_id')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee', sa.String(length=255), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('assignee')

    op.drop_table('runbook_progress')

