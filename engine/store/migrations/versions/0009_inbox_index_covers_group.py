"""the open-task inbox index also holds group_id, so "My groups" (role and group-seat test) reads the index alone

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BEFORE = ['status', 'role_id', 'claimed_by', 'assignee', 'due_at', 'created_at', 'id', 'instance_id']


def upgrade() -> None:
    op.drop_index('ix_human_task_inbox_open', table_name='human_task')
    op.create_index('ix_human_task_inbox_open', 'human_task', BEFORE + ['group_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_human_task_inbox_open', table_name='human_task')
    op.create_index('ix_human_task_inbox_open', 'human_task', BEFORE, unique=False)
