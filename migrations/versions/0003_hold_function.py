"""a hold as one statement: calendar.hold_slot() and the JSON it writes; HOT slot updates

The functions live in app/services/hold_slot.sql, loaded here and again by
every later migration that changes them (0005 gave the advisory lock's ids
to the caller).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from app.db import sql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Nothing reads slots by locked_until, and (hub_id, starts_at) is the head of
    # the unique (hub_id, starts_at, lane) index: with neither, a hold changes no
    # indexed column of its slot, so with free room on the page (fillfactor) the
    # UPDATE is a HOT update that writes no index at all.
    op.drop_index('ix_slots_locked_until', table_name='slots', schema='calendar')
    op.drop_index('ix_slots_hub_start', table_name='slots', schema='calendar')
    op.execute("ALTER TABLE calendar.slots SET (fillfactor = 85)")
    sql.load(op.get_bind(), "app.services", "hold_slot.sql")


def downgrade():
    op.create_index('ix_slots_hub_start', 'slots', ['hub_id', 'starts_at'], unique=False, schema='calendar')
    op.create_index('ix_slots_locked_until', 'slots', ['locked_until'], unique=False, schema='calendar')
    op.execute("ALTER TABLE calendar.slots RESET (fillfactor)")
    op.execute("DROP FUNCTION IF EXISTS calendar.hold_slot(uuid, uuid, text, text, integer, integer, "
               "integer, integer, text, jsonb, text, text, text)")
    op.execute("DROP FUNCTION IF EXISTS calendar.booking_body(calendar.bookings, calendar.slots)")
    op.execute("DROP FUNCTION IF EXISTS calendar.booking_event_data(calendar.bookings, calendar.slots, "
               "boolean, jsonb)")
    op.execute("DROP FUNCTION IF EXISTS calendar.iso_utc(timestamptz)")
