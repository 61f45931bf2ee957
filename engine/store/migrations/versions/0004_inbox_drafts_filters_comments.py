"""inbox: task drafts kept on the server, comments on instances, saved inbox filters, inbox indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Comments made before this migration were kept only as `comment.added` audit events; they are copied into the new
`comment` table so that nothing said is lost.
"""
import json
from datetime import datetime

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'username', name='uq_task_draft_task_user')
    )
    comment = op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_comment_instance_created', 'comment', ['instance_id', 'created_at'], unique=False)
    op.create_table('saved_filter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('query', sa.JSON(), nullable=False),
    sa.Column('shared_with_group', sa.String(length=60), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner', 'name', name='uq_saved_filter_owner_name')
    )
    op.create_index('ix_saved_filter_shared', 'saved_filter', ['shared_with_group'], unique=False)
    op.create_index('ix_human_task_inbox_open', 'human_task',
                    ['status', 'role_id', 'claimed_by', 'assignee', 'due_at', 'created_at', 'id', 'instance_id'],
                    unique=False)
    op.create_index('ix_human_task_inbox_completed', 'human_task',
                    ['completed_by', 'status', 'completed_at', 'created_at', 'id'], unique=False)
    _copy_comments_from_audit(comment)


def _copy_comments_from_audit(comment: sa.Table) -> None:
    bind = op.get_bind()
    events = bind.execute(sa.text(
        "SELECT instance_id, actor, details, at FROM audit_event "
        "WHERE action = 'comment.added' AND instance_id IS NOT NULL ORDER BY id")).all()
    rows = []
    for instance_id, actor, details, at in events:
        if isinstance(details, str):
            details = json.loads(details or "{}")
        text = (details or {}).get("text")
        if isinstance(at, str):  # SQLite hands back its stored text
            at = datetime.fromisoformat(at)
        if text:
            rows.append({"instance_id": instance_id, "author": actor, "body": text, "created_at": at})
    if rows:
        op.bulk_insert(comment, rows)


def downgrade() -> None:
    op.drop_index('ix_human_task_inbox_completed', table_name='human_task')
    op.drop_index('ix_human_task_inbox_open', table_name='human_task')
    op.drop_index('ix_saved_filter_shared', table_name='saved_filter')
    op.drop_table('saved_filter')
    op.drop_index('ix_comment_instance_created', table_name='comment')
    op.drop_table('comment')
    op.drop_table('task_draft')
