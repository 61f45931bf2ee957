"""indexes for the API's keyset cursors: instances newest first (mine, and all), my notifications newest first

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_started_by')
        batch_op.create_index('ix_instance_started_by', ['started_by', 'started_at', 'id'], unique=False)
        batch_op.create_index('ix_instance_started', ['started_at', 'id'], unique=False)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_user_created', ['user_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_user_created')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_started')
        batch_op.drop_index('ix_instance_started_by')
        batch_op.create_index('ix_instance_started_by', ['started_by'], unique=False)
