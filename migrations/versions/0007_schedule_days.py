"""schedule days: the (hub, local day) pairs a weekly schedule has published

The worker keeps each active scheduled hub's slots SLOT_HORIZON_DAYS ahead and
never generates a recorded day again, so an admin's removals and moves stand.
Days that already have slots (from `generate-slots` before this revision) are
recorded as published, so the worker does not refill what an admin removed.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'schedule_days',
        sa.Column('hub_id', sa.Uuid(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.ForeignKeyConstraint(['hub_id'], ['calendar.hubs.id'], ondelete='CASCADE',
                                name=op.f('fk_schedule_days_hub_id_hubs')),
        sa.PrimaryKeyConstraint('hub_id', 'day', name=op.f('pk_schedule_days')),
        schema='calendar')
    op.execute("""
        INSERT INTO calendar.schedule_days (hub_id, day)
        SELECT DISTINCT s.hub_id, (s.starts_at AT TIME ZONE h.timezone)::date
        FROM calendar.slots s JOIN calendar.hubs h ON h.id = s.hub_id
        WHERE s.starts_at > now() - interval '1 day'
        ON CONFLICT DO NOTHING
    """)


def downgrade():
    op.drop_table('schedule_days', schema='calendar')
