"""outbox targets: one row per system, so Slack and Jira are delivered (and retried) independently

Rows already in the outbox keep target NULL, which the deliverer reads as "every system that handles this
kind" and fans out into one row per system, so nothing written before this revision is lost. After a
downgrade, pending per-system rows become such rows again: each is then delivered to every system. Channels,
issues and summaries come out the same (the handlers check what exists), but a pending SLA notice or Jira
comment may be posted twice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import irflow.store.tables


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sa.String(length=16), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('target')

