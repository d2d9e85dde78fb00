"""engine state: approvals, TTL, saga order, automation switch, twin key limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('automation_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('playbook', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('playbook_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phase', sa.String(length=16), server_default='contain', nullable=False))
        batch_op.add_column(sa.Column('on_failure', sa.String(length=16), server_default='continue', nullable=False))
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('approval_due_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expires_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('undo_of', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_actions_status', ['status'], unique=False)

    with op.batch_alter_table('twin_gateway_blocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limits', sa.JSON(), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('twin_gateway_blocks', schema=None) as batch_op:
        batch_op.drop_column('limits')

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index('ix_actions_status')
        batch_op.drop_column('undo_of')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('approval_due_at')
        batch_op.drop_column('position')
        batch_op.drop_column('on_failure')
        batch_op.drop_column('phase')
        batch_op.drop_column('playbook_hash')
        batch_op.drop_column('playbook')

    op.drop_table('automation_state')

