"""Helpers for the tests against the live service: the demo hub's days, free slots, lost answers.

The demo hub (America/Jamaica) has slots on today and the next 14 local days;
`live_service` empties the stores and seeds it again before each test.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import uuid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from calendar_client import Booking, CalendarClient, Slot

from .servers import Recorded, Reply

JAMAICA = ZoneInfo("America/Jamaica")
EMAIL = "candidate@example.com"


def local_today() -> dt.date:
    return dt.datetime.now(JAMAICA).date()


def free_slots(calendar: CalendarClient, hub_id: uuid.UUID, count: int = 1) -> list[Slot]:
    """`count` random free slots of one random day from tomorrow on."""
    for offset in random.sample(range(1, 14), 13):
        available = calendar.list_slots(hub_id, local_today() + dt.timedelta(days=offset)).available
        if len(available) >= count:
            return random.sample(list(available), count)
    raise AssertionError(f"no day of the demo hub has {count} free slots")


def is_listed_free(calendar: CalendarClient, slot: Slot) -> bool:
    day = calendar.list_slots(slot.hub_id, slot.starts_at.astimezone(JAMAICA).date())
    return slot.id in {free.id for free in day.available}


def hold(calendar: CalendarClient, hub_id: uuid.UUID) -> Booking:
    [slot] = free_slots(calendar, hub_id)
    return calendar.create_booking(slot.id, uuid.uuid4(), EMAIL)


def forward_losing_first(upstream: str, dropped: list[tuple[int, dict]], method: str, path: str):
    """A script that relays requests to `upstream` but loses the first answer to `method` `path`.

    That first request reaches the service and completes there; its response
    is read in full, kept in `dropped`, and the client's connection is closed
    without a reply: the change is made, the client does not know it.
    """
    target = urlsplit(upstream)

    def forward(request: Recorded) -> Reply:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            headers = {name: value for name, value in request.headers.items()
                       if name not in ("host", "connection", "content-length", "accept-encoding")}
            connection.request(request.method, request.target, body=request.body or None,
                               headers=headers)
            response = connection.getresponse()
            status, body = response.status, response.read()
            content_type = response.getheader("Content-Type", "application/json")
        finally:
            connection.close()
        if (request.method, request.path) == (method, path) and not dropped:
            dropped.append((status, json.loads(body)))
            return Reply(drop=True)
        return Reply(status, body, {"Content-Type": content_type})

    return forward
