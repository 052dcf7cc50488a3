"""Sample JSON bodies in the Calendar service's documented shapes."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

HUB_ID = "550e8400-e29b-41d4-a716-446655440000"
SLOT_ID = "7d3f8a52-1c9e-4b8f-9a43-2f6f0c1d5e77"
BOOKING_ID = "0b6c5f4e-3d2a-4c1b-8a9f-7e6d5c4b3a21"
CANDIDATE_ID = "c0ffee00-0000-4000-8000-000000000001"
ENTRY_ID = "3a1e9c7d-5b2f-4e8a-9d6c-1f0b2a3c4d5e"
OFFER_BOOKING_ID = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f"

HUB: dict[str, Any] = {
    "id": HUB_ID, "code": "KGN", "name": "Kingston Hub", "timezone": "America/Jamaica",
    "active": True, "created_at": "2026-01-05T09:00:00+00:00",
    "updated_at": "2026-01-06T09:30:00Z",
}
SLOT: dict[str, Any] = {
    "id": SLOT_ID, "hub_id": HUB_ID, "starts_at": "2026-11-28T08:00:00-05:00",
    "ends_at": "2026-11-28T08:30:00-05:00", "status": "available",
}
SLOT_LIST: dict[str, Any] = {
    "hub_id": HUB_ID, "date": "2026-11-28", "timezone": "America/Jamaica",
    "slots": [SLOT, {**SLOT, "id": "7d3f8a52-1c9e-4b8f-9a43-2f6f0c1d5e78", "status": "booked"}],
}
BOOKING: dict[str, Any] = {
    "id": BOOKING_ID, "slot_id": SLOT_ID, "hub_id": HUB_ID, "candidate_id": CANDIDATE_ID,
    "contact_email": "ana@example.com", "status": "pending",
    "locked_until": "2026-11-27T13:15:00+00:00", "starts_at": "2026-11-28T13:00:00+00:00",
    "ends_at": "2026-11-28T13:30:00+00:00", "created_at": "2026-11-27T13:00:00.123456+00:00",
}
WAITING_ENTRY: dict[str, Any] = {
    "id": ENTRY_ID, "candidate_id": CANDIDATE_ID, "hub_id": HUB_ID, "from_date": "2026-11-28",
    "to_date": "2026-12-05", "swap_booking_id": None, "joined_at": "2026-11-20T10:00:00.5+00:00",
    "strikes": 0, "status": "waiting", "position": 3, "offer": None,
}
OFFERED_ENTRY: dict[str, Any] = {
    **WAITING_ENTRY, "swap_booking_id": BOOKING_ID, "strikes": 1, "status": "offered",
    "position": 1, "offer": {"booking_id": OFFER_BOOKING_ID, "slot_id": SLOT_ID,
                             "starts_at": "2026-11-28T13:00:00+00:00",
                             "expires_at": "2026-11-27T20:00:00Z"},
}
HEALTH: dict[str, Any] = {"status": "ok",
                          "checks": {"database": "ok", "redis": "ok", "broker": "disabled"}}
EVENT_PAGE: dict[str, Any] = {
    "events": [{"sequence": 7, "id": "5e0f2b1a-9c8d-4e7f-a6b5-c4d3e2f1a0b9",
                "type": "BookingCreated",
                "version": 1, "occurred_at": "2026-11-27T13:00:00+00:00",
                "data": {"booking_id": BOOKING_ID}}],
    "next_after": 7,
}


def error(status: int, message: str = "refused", **extra: Any) -> dict[str, Any]:
    """The service's one error shape."""
    return {"code": status, "status": HTTPStatus(status).phrase, "message": message, **extra}
