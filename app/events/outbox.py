"""Recording events in the caller's transaction (the transactional outbox).

Services call `record_event` inside their unit of work; the row commits or
rolls back with the state change, so an event exists exactly when its change
does. Publishing is the relay's job (`app.events.relay`).

A row remembers the id of the request that caused it under `REQUEST_ID_KEY`
in its payload, which `envelope` leaves out: the published contract and the
feed do not change, and the log can name the request (`request_id_of`).
The SQL functions that write events (holds, waitlist offers) take the id as a
parameter and store it the same way (`calendar.request_tag`).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db import uow
from app.models import Booking, OutboxEvent
from app.observability.logs import current_request_id

EVENT_TYPES: dict[str, str] = {
    "BookingCreated": "booking.created",
    "BookingConfirmed": "booking.confirmed",
    "BookingCancelled": "booking.cancelled",
    "BookingExpired": "booking.expired",
    "SlotLocked": "slot.locked",
    "SlotUnlocked": "slot.unlocked",
    "SlotWithdrawn": "slot.withdrawn",
    "SlotOffered": "slot.offered",
    "OfferAccepted": "offer.accepted",
    "OfferDeclined": "offer.declined",
    "OfferExpired": "offer.expired",
    "WaitlistJoined": "waitlist.joined",
    "WaitlistLeft": "waitlist.left",
    "WaitlistPaused": "waitlist.paused",
}
ENVELOPE_VERSION = 1
REQUEST_ID_KEY = "_request_id"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def booking_event_data(booking: Booking, *, with_contact: bool, **extra: Any) -> dict[str, Any]:
    """The `data` of an event about `booking` and its slot."""
    data: dict[str, Any] = {
        "booking_id": str(booking.id),
        "slot_id": str(booking.slot_id),
        "hub_id": str(booking.slot.hub_id),
        "candidate_id": str(booking.candidate_id),
        "status": booking.status,
        "locked_until": _iso(booking.hold_expires_at),
        "starts_at": _iso(booking.slot.starts_at),
        "ends_at": _iso(booking.slot.ends_at),
    }
    if with_contact:
        data["contact_email"] = booking.contact_email
    if booking.cancel_reason is not None:
        data["cancel_reason"] = booking.cancel_reason
    data.update(extra)
    return data


def record_event(session: Session, event_type: str, data: dict[str, Any],
                 occurred_at: datetime) -> OutboxEvent:
    """Add one event to the outbox in `session`'s transaction, with the id of the request being answered."""
    request_id = current_request_id()
    payload = data if request_id is None else {**data, REQUEST_ID_KEY: request_id}
    row = OutboxEvent(id=uuid.uuid4(), type=event_type, routing_key=EVENT_TYPES[event_type],
                      payload=payload, occurred_at=occurred_at)
    session.add(row)
    # Counted if the transaction commits; cancellations and withdrawals by their reason.
    uow.event_recorded(session, event_type, data.get("cancel_reason", data.get("reason")))
    return row


def request_id_of(row: OutboxEvent) -> str | None:
    """The id of the request that caused the event (None: a worker, a SQL function, an older row)."""
    return row.payload.get(REQUEST_ID_KEY)


def envelope(row: OutboxEvent) -> dict[str, Any]:
    """The JSON body published for an outbox row (and served by the event feed)."""
    data = row.payload
    if REQUEST_ID_KEY in data:
        data = {key: value for key, value in data.items() if key != REQUEST_ID_KEY}
    return {
        "id": str(row.id),
        "type": row.type,
        "version": ENVELOPE_VERSION,
        "occurred_at": row.occurred_at.isoformat(),
        "data": data,
    }
