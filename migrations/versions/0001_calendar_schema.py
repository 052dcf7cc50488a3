"""calendar schema: hubs, slots, bookings, outbox, idempotency keys

Everything lives in the PostgreSQL schema `calendar`.
The partial unique index uq_bookings_active_slot is what makes a double
booking impossible whatever the application does.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 07:08:17.716228

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('hubs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hubs')),
    sa.UniqueConstraint('code', name=op.f('uq_hubs_code')),
    schema='calendar'
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_keys')),
    schema='calendar'
    )
    op.create_index(op.f('ix_idempotency_keys_created_at'), 'idempotency_keys', ['created_at'], unique=False, schema='calendar')
    op.create_table('outbox_events',
    sa.Column('row_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('routing_key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('row_id', name=op.f('pk_outbox_events')),
    sa.UniqueConstraint('id', name=op.f('uq_outbox_events_id')),
    sa.UniqueConstraint('sequence', name=op.f('uq_outbox_events_sequence')),
    schema='calendar'
    )
    op.create_index('ix_outbox_events_unsequenced', 'outbox_events', ['row_id'], unique=False, schema='calendar', postgresql_where=sa.text('sequence IS NULL'))
    op.create_index('ix_outbox_events_unpublished', 'outbox_events', ['sequence'], unique=False, schema='calendar', postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('slots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lane', sa.Integer(), server_default='1', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='available', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sa.String(length=128), nullable=True),
    sa.Column('fence', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint("status IN ('available', 'locked', 'booked')", name=op.f('ck_slots_status')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_slots_time_order')),
    sa.ForeignKeyConstraint(['hub_id'], ['calendar.hubs.id'], name=op.f('fk_slots_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slots')),
    sa.UniqueConstraint('hub_id', 'starts_at', 'lane', name=op.f('uq_slots_hub_id_starts_at_lane')),
    schema='calendar'
    )
    op.create_index('ix_slots_hub_start', 'slots', ['hub_id', 'starts_at'], unique=False, schema='calendar')
    op.create_index('ix_slots_locked_until', 'slots', ['locked_until'], unique=False, schema='calendar')
    op.create_table('bookings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('slot_id', sa.Uuid(), nullable=False),
    sa.Column('candidate_id', sa.Uuid(), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fence', sa.Integer(), nullable=False),
    sa.Column('lock_token', sa.String(length=64), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'cancelled', 'expired')", name=op.f('ck_bookings_status')),
    sa.ForeignKeyConstraint(['slot_id'], ['calendar.slots.id'], name=op.f('fk_bookings_slot_id_slots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings')),
    schema='calendar'
    )
    op.create_index('ix_bookings_candidate_status', 'bookings', ['candidate_id', 'status'], unique=False, schema='calendar')
    op.create_index('uq_bookings_active_slot', 'bookings', ['slot_id'], unique=True, schema='calendar', postgresql_where=sa.text("status IN ('pending', 'confirmed')"))



def downgrade():
    
    op.drop_index('uq_bookings_active_slot', table_name='bookings', schema='calendar', postgresql_where=sa.text("status IN ('pending', 'confirmed')"))
    op.drop_index('ix_bookings_candidate_status', table_name='bookings', schema='calendar')
    op.drop_table('bookings', schema='calendar')
    op.drop_index('ix_slots_locked_until', table_name='slots', schema='calendar')
    op.drop_index('ix_slots_hub_start', table_name='slots', schema='calendar')
    op.drop_table('slots', schema='calendar')
    op.drop_index('ix_outbox_events_unpublished', table_name='outbox_events', schema='calendar')
    op.drop_index('ix_outbox_events_unsequenced', table_name='outbox_events', schema='calendar')
    op.drop_table('outbox_events', schema='calendar')
    op.drop_index(op.f('ix_idempotency_keys_created_at'), table_name='idempotency_keys', schema='calendar')
    op.drop_table('idempotency_keys', schema='calendar')
    op.drop_table('hubs', schema='calendar')

