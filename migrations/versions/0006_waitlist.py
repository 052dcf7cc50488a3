"""the waitlist: entries, the slots each passed on, and offers as bookings that name their entry

Loads app/services/waitlist.sql (who gets a freed slot) and reloads
app/services/hold_slot.sql (a booking's body names its entry; a hold no longer
takes over a run-out hold the waitlist has a claim on).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from app.db import sql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('waiting', 'offered', 'paused')")


def upgrade():
    op.create_table(
        'waitlist_entries',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('candidate_id', sa.Uuid(), nullable=False),
        sa.Column('hub_id', sa.Uuid(), nullable=False),
        sa.Column('from_date', sa.Date(), nullable=False),
        sa.Column('to_date', sa.Date(), nullable=False),
        sa.Column('contact_email', sa.String(length=254), nullable=False),
        sa.Column('swap_booking_id', sa.Uuid(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('strikes', sa.Integer(), server_default='0', nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('waiting', 'offered', 'paused', 'fulfilled', 'left')",
                           name=op.f('ck_waitlist_entries_status')),
        sa.CheckConstraint('to_date >= from_date', name=op.f('ck_waitlist_entries_date_order')),
        sa.ForeignKeyConstraint(['hub_id'], ['calendar.hubs.id'], ondelete='CASCADE',
                                name=op.f('fk_waitlist_entries_hub_id_hubs')),
        sa.ForeignKeyConstraint(['swap_booking_id'], ['calendar.bookings.id'], ondelete='SET NULL',
                                name=op.f('fk_waitlist_entries_swap_booking_id_bookings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries')),
        schema='calendar')
    op.create_index('uq_waitlist_entries_active_candidate_hub', 'waitlist_entries',
                    ['candidate_id', 'hub_id'], unique=True, schema='calendar', postgresql_where=ACTIVE)
    op.create_index('ix_waitlist_entries_waiting', 'waitlist_entries', ['hub_id', 'joined_at', 'id'],
                    schema='calendar', postgresql_where=sa.text("status = 'waiting'"))
    op.create_index('ix_waitlist_entries_candidate', 'waitlist_entries', ['candidate_id'],
                    schema='calendar', postgresql_where=ACTIVE)
    op.create_table(
        'waitlist_passes',
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('slot_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['calendar.waitlist_entries.id'], ondelete='CASCADE',
                                name=op.f('fk_waitlist_passes_entry_id_waitlist_entries')),
        sa.ForeignKeyConstraint(['slot_id'], ['calendar.slots.id'], ondelete='CASCADE',
                                name=op.f('fk_waitlist_passes_slot_id_slots')),
        sa.PrimaryKeyConstraint('entry_id', 'slot_id', name=op.f('pk_waitlist_passes')),
        schema='calendar')
    op.add_column('bookings', sa.Column('waitlist_entry_id', sa.Uuid(), nullable=True), schema='calendar')
    op.create_foreign_key(op.f('fk_bookings_waitlist_entry_id_waitlist_entries'), 'bookings',
                          'waitlist_entries', ['waitlist_entry_id'], ['id'],
                          source_schema='calendar', referent_schema='calendar', ondelete='SET NULL')
    sql.load(op.get_bind(), "app.services", "hold_slot.sql")
    sql.load(op.get_bind(), "app.services", "waitlist.sql")


def downgrade():
    for function in ("offer_to_entries(uuid[], timestamptz, integer, integer, integer, integer, jsonb)",
                     "offer_slots(uuid[], timestamptz, integer, integer, integer, integer, jsonb)",
                     "waitlist_eligible(calendar.waitlist_entries, calendar.slots, text, timestamptz, "
                     "integer, integer)",
                     "make_offer(calendar.slots, calendar.waitlist_entries, timestamptz, integer, integer, "
                     "jsonb)"):
        op.execute(f"DROP FUNCTION IF EXISTS calendar.{function}")
    op.drop_constraint(op.f('fk_bookings_waitlist_entry_id_waitlist_entries'), 'bookings',
                       schema='calendar', type_='foreignkey')
    op.drop_column('bookings', 'waitlist_entry_id', schema='calendar')
    op.drop_table('waitlist_passes', schema='calendar')
    op.drop_table('waitlist_entries', schema='calendar')
