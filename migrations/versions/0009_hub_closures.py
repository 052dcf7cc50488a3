"""hub closures and withdrawn slots; bookings say why they ended

- `calendar.hub_closures`: a window in which a hub takes no tests.
- Slots gain the status `withdrawn` and `closure_id` (the closure that withdrew
  them; null for a slot withdrawn alone).
- Bookings gain `cancel_reason` (candidate, hold_expired, swapped, hub_closed,
  slot_withdrawn): null exactly while the booking is pending or confirmed.
  Existing rows are backfilled: expired -> hold_expired; cancelled -> swapped
  when an accepted swap replaced it (its BookingCancelled said so, or it is
  the swapped booking of a fulfilled entry, ended in the same transaction),
  else candidate.
- `ix_bookings_candidate_created`: a candidate's bookings, newest first.

Reloads app/services/hold_slot.sql: a hold that takes over a run-out hold
records its cancel_reason, and bookings' JSON and events carry it.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from app.db import sql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

REASONS = "('candidate', 'hold_expired', 'swapped', 'hub_closed', 'slot_withdrawn')"


def upgrade():
    op.create_table(
        'hub_closures',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('hub_id', sa.Uuid(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('rebook', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_hub_closures_time_order')),
        sa.ForeignKeyConstraint(['hub_id'], ['calendar.hubs.id'], ondelete='CASCADE',
                                name=op.f('fk_hub_closures_hub_id_hubs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_closures')),
        schema='calendar')
    op.create_index('ix_hub_closures_hub_ends', 'hub_closures', ['hub_id', 'ends_at'], schema='calendar')

    op.drop_constraint(op.f('ck_slots_status'), 'slots', schema='calendar', type_='check')
    op.create_check_constraint(op.f('ck_slots_status'), 'slots',
                               "status IN ('available', 'locked', 'booked', 'withdrawn')", schema='calendar')
    op.add_column('slots', sa.Column('closure_id', sa.Uuid(), nullable=True), schema='calendar')
    op.create_foreign_key(op.f('fk_slots_closure_id_hub_closures'), 'slots', 'hub_closures',
                          ['closure_id'], ['id'], source_schema='calendar', referent_schema='calendar')
    op.create_check_constraint(op.f('ck_slots_closure_withdraws'), 'slots',
                               "closure_id IS NULL OR status = 'withdrawn'", schema='calendar')

    op.add_column('bookings', sa.Column('cancel_reason', sa.String(length=16), nullable=True),
                  schema='calendar')
    op.execute("UPDATE calendar.bookings SET cancel_reason = 'hold_expired' WHERE status = 'expired'")
    op.execute("""
        UPDATE calendar.bookings b SET cancel_reason = 'swapped'
         WHERE b.status = 'cancelled'
           AND (EXISTS (SELECT 1 FROM calendar.outbox_events o
                         WHERE o.type = 'BookingCancelled' AND o.payload ->> 'booking_id' = b.id::text
                           AND o.payload ->> 'reason' = 'swapped')
                OR EXISTS (SELECT 1 FROM calendar.waitlist_entries e
                            WHERE e.swap_booking_id = b.id AND e.status = 'fulfilled'
                              AND e.updated_at = b.cancelled_at))""")
    op.execute("UPDATE calendar.bookings SET cancel_reason = 'candidate' "
               "WHERE status = 'cancelled' AND cancel_reason IS NULL")
    op.create_check_constraint(op.f('ck_bookings_cancel_reason'), 'bookings',
                               f"cancel_reason IN {REASONS}", schema='calendar')
    op.create_check_constraint(op.f('ck_bookings_cancel_reason_when_ended'), 'bookings',
                               "(status IN ('pending', 'confirmed')) = (cancel_reason IS NULL)",
                               schema='calendar')
    op.create_index('ix_bookings_candidate_created', 'bookings',
                    ['candidate_id', sa.text('created_at DESC'), sa.text('id DESC')], schema='calendar')
    sql.load(op.get_bind(), "app.services", "hold_slot.sql")


def downgrade():
    raise RuntimeError("0009 cannot be downgraded: restore the database, or load the SQL files "
                       "from the release you go back to")
