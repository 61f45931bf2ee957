"""incidents (stranded instances, failed timers, tasks created overdue, undeliverable effects) and signal waits

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('element_ids', sa.JSON(), nullable=False),
    sa.Column('command', sa.String(length=80), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=80), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_incident_open', 'incident', ['resolved_at', 'opened_at'], unique=False)
    op.create_index('ix_incident_instance', 'incident', ['instance_id'], unique=False)
    with op.batch_alter_table('message_wait') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=20), server_default='message', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('message_wait') as batch:
        batch.drop_column('kind')
    op.drop_index('ix_incident_instance', table_name='incident')
    op.drop_index('ix_incident_open', table_name='incident')
    op.drop_table('incident')
