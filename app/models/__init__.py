"""The service's tables (schema `calendar`)."""
from app.models.booking import ACTIVE_STATUSES, BOOKING_STATUSES, Booking
from app.models.hub import SLOT_STATUSES, Hub, Slot
from app.models.records import IdempotencyRecord, OutboxEvent

__all__ = ["ACTIVE_STATUSES", "BOOKING_STATUSES", "Booking", "Hub", "IdempotencyRecord",
           "OutboxEvent", "SLOT_STATUSES", "Slot"]
