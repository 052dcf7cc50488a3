"""index pending holds by expiry, for the sweeper

Without it every sweep (every few seconds, per worker) scans all bookings.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_index('ix_bookings_pending_expiry', 'bookings', ['hold_expires_at'], unique=False,
                    schema='calendar', postgresql_where=PENDING)


def downgrade():
    op.drop_index('ix_bookings_pending_expiry', table_name='bookings', schema='calendar')
