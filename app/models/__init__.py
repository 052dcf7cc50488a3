"""The service's tables (schema `calendar`)."""
from app.models.booking import ACTIVE_STATUSES, BOOKING_STATUSES, CANCEL_REASONS, Booking
from app.models.closure import HubClosure
from app.models.hub import SLOT_STATUSES, Hub, Slot
from app.models.records import IdempotencyRecord, OutboxEvent
from app.models.schedule import ScheduleDay
from app.models.waitlist import ACTIVE_ENTRY, ACTIVE_WAITLIST_STATUSES, WaitlistEntry, WaitlistPass

__all__ = ["ACTIVE_ENTRY", "ACTIVE_STATUSES", "ACTIVE_WAITLIST_STATUSES", "BOOKING_STATUSES",
           "CANCEL_REASONS", "Booking", "Hub", "HubClosure", "IdempotencyRecord", "OutboxEvent",
           "SLOT_STATUSES", "ScheduleDay", "Slot", "WaitlistEntry", "WaitlistPass"]
