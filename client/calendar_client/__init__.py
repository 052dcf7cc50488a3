"""Python client of the ITADIAS Calendar service.

    from calendar_client import CalendarClient, SlotUnavailable

    with CalendarClient() as calendar:          # CALENDAR_SERVICE_URL, CALENDAR_API_KEY
        slots = calendar.list_slots(hub_id, "2026-11-28")

The Flask proxy lives in `calendar_client.proxy` and is not imported here, so
this package needs only `requests`.
"""
from calendar_client.client import DEFAULT_BASE_URL, CalendarClient, RawResponse, __version__
from calendar_client.errors import (
                                    AlreadyWaiting,
                                    CalendarError,
                                    CalendarUnavailable,
                                    HoldExpired,
                                    HoldLimitReached,
                                    HubNotFound,
                                    InvalidState,
                                    InvalidSwap,
                                    NotFound,
                                    SlotUnavailable,
                                    TimezoneLocked,
                                    Unauthorized,
                                    ValidationFailed,
                                    WaitlistLimitReached,
)
from calendar_client.types import (
                                   Booking,
                                   BookingPage,
                                   DaySheet,
                                   DaySheetRow,
                                   Event,
                                   EventPage,
                                   Health,
                                   Hub,
                                   HubClosure,
                                   Slot,
                                   SlotList,
                                   WaitlistEntry,
                                   WaitlistOffer,
)

__all__ = [
    "CalendarClient", "RawResponse", "DEFAULT_BASE_URL", "__version__",
    "CalendarError", "CalendarUnavailable", "HoldExpired", "HoldLimitReached", "InvalidState",
    "NotFound", "SlotUnavailable", "Unauthorized", "ValidationFailed",
    "AlreadyWaiting", "HubNotFound", "InvalidSwap", "TimezoneLocked", "WaitlistLimitReached",
    "Booking", "BookingPage", "DaySheet", "DaySheetRow", "Event", "EventPage", "Health", "Hub",
    "HubClosure", "Slot", "SlotList",
    "WaitlistEntry", "WaitlistOffer",
]
