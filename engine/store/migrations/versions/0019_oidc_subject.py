"""the single sign-on identity (issuer and subject) an account is linked to: sign-in matches it before the username

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user') as batch:
        batch.add_column(sa.Column('oidc_subject', sa.String(length=1000), nullable=True))
        batch.create_index('ix_app_user_oidc_subject', ['oidc_subject'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('app_user') as batch:
        batch.drop_index('ix_app_user_oidc_subject')
        batch.drop_column('oidc_subject')
