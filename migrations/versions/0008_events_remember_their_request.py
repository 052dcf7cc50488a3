"""events written by the hold rule and the waitlist remember the request that caused them

Reloads app/services/hold_slot.sql and app/services/waitlist.sql: calendar.hold_slot,
calendar.make_offer, calendar.offer_slots and calendar.offer_to_entries take
p_request_id, kept in each event's stored payload (calendar.request_tag); the
published envelope leaves it out. The old signatures are dropped.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

from app.db import sql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD = ("hold_slot(uuid, uuid, text, text, integer, integer, integer, integer, text, jsonb, text, text, text)",
       "offer_to_entries(uuid[], timestamptz, integer, integer, integer, integer, jsonb)",
       "offer_slots(uuid[], timestamptz, integer, integer, integer, integer, jsonb)",
       "make_offer(calendar.slots, calendar.waitlist_entries, timestamptz, integer, integer, jsonb)")


def upgrade():
    for function in OLD:
        op.execute(f"DROP FUNCTION IF EXISTS calendar.{function}")
    sql.load(op.get_bind(), "app.services", "hold_slot.sql")
    sql.load(op.get_bind(), "app.services", "waitlist.sql")


def downgrade():
    raise RuntimeError("0008 cannot be downgraded: restore the database, or load the SQL files "
                       "from the release you go back to")
