"""an instance's open tasks by due date: the register's overdue count per row reads one index range

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_instance_status')
        batch_op.create_index('ix_human_task_instance_status', ['instance_id', 'status', 'due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_instance_status')
        batch_op.create_index('ix_human_task_instance_status', ['instance_id', 'status'], unique=False)
