"""The booking domain's use cases: hubs and slots, holds, bookings, expiry, idempotency.

Each public function owns its transaction (`app.db.uow`), enforces the rules
and records the events; views and the worker call them, never the tables.
"""
