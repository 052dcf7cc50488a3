"""Checks the waitlist's tests share: the invariant, asked of PostgreSQL with the rule itself."""
from __future__ import annotations

from sqlalchemy import text

# Free slots that some waiting entry is eligible for, by calendar.waitlist_eligible (the rule's own
# function): the waitlist's invariant says there are none, whenever a transaction has committed.
ELIGIBLE_FREE_SLOTS = text("""
    SELECT count(*) FROM calendar.slots s
      JOIN calendar.hubs h ON h.id = s.hub_id
      JOIN calendar.waitlist_entries e ON e.hub_id = s.hub_id
     WHERE s.status = 'available'
       AND calendar.waitlist_eligible(e, s, h.timezone, statement_timestamp(), 86400, 1)""")
