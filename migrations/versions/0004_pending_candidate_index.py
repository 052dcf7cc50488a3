"""index a candidate's pending holds, for the hold cap

The hold cap counts the candidate's unexpired pending holds. With only
(candidate_id, status) and the sweeper's (hold_expires_at) WHERE pending,
the planner scanned every live hold for each new one: at slot release, with
thousands of holds pending, that made each hold cost milliseconds of
PostgreSQL CPU. This index answers the count from a handful of entries;
(candidate_id, status) served nothing else.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_index('ix_bookings_pending_candidate', 'bookings', ['candidate_id', 'hold_expires_at'],
                    unique=False, schema='calendar', postgresql_where=PENDING)
    op.drop_index('ix_bookings_candidate_status', table_name='bookings', schema='calendar')


def downgrade():
    op.create_index('ix_bookings_candidate_status', 'bookings', ['candidate_id', 'status'], unique=False,
                    schema='calendar')
    op.drop_index('ix_bookings_pending_candidate', table_name='bookings', schema='calendar')
