"""Domain events: built in one place, written to the outbox, relayed later."""
from app.events.outbox import EVENT_TYPES, booking_event_data, envelope, record_event

__all__ = ["EVENT_TYPES", "booking_event_data", "envelope", "record_event"]
