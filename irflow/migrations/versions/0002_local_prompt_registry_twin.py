"""local prompt registry twin

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('twin_prompt_aliases',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', 'alias')
    )
    op.create_table('twin_prompt_versions',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('created_at', irflow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', 'version')
    )



def downgrade() -> None:

    op.drop_table('twin_prompt_versions')
    op.drop_table('twin_prompt_aliases')

