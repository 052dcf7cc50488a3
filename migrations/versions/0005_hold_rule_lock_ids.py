"""the hold rule takes its advisory lock's ids as parameters (app/db/locks.py)

Reloads app/services/hold_slot.sql, whose calendar.hold_slot gained
p_lock_class and p_lock_id; the old signature is dropped.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

from app.db import sql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP FUNCTION IF EXISTS calendar.hold_slot(uuid, uuid, text, text, integer, integer, "
               "integer, text, jsonb, text, text, text)")
    sql.load(op.get_bind(), "app.services", "hold_slot.sql")


def downgrade():
    # The previous rule's text lives only in the history of hold_slot.sql: running
    # code of an older release needs that file, not this migration, to undo it.
    raise RuntimeError("0005 cannot be downgraded: restore the database, or load hold_slot.sql "
                       "from the release you go back to")
