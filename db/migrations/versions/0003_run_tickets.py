"""run_tickets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

* ``run_tickets``: single-use, short-lived tickets for one flow run on a coordinator's
  behalf (``outreach outcomes ticket``; the record-outcomes flow redeems them). Only the
  hash of a ticket's secret is kept, with the coordinator's access code sealed by it.

Frozen like 0001: no import of live code.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_tickets'))
    )


def downgrade() -> None:
    op.drop_table('run_tickets')
