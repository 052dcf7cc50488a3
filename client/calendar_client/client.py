"""`CalendarClient`: typed calls to the Calendar service over one pooled session.

Every call goes through `request_raw`, which owns the transport concerns
(auth header, timeouts, request id, idempotency key, retries through the
session's adapter) and turns network failures and 5xx into
`CalendarUnavailable`. The typed methods add only "error status -> typed
exception" and "JSON -> dataclass" on top.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import requests

from calendar_client.errors import CalendarError, CalendarUnavailable, error_from_response
from calendar_client.retry import BearerAuth, build_retry, build_session
from calendar_client.types import (
    Booking,
    BookingPage,
    DaySheet,
    EventPage,
    Health,
    Hub,
    HubClosure,
    Slot,
    SlotList,
    WaitlistEntry,
)

__version__ = "0.1.0"
DEFAULT_BASE_URL = "http://localhost:8002"
T = TypeVar("T")
Id = uuid.UUID | str


@dataclass(frozen=True)
class RawResponse:
    """A service answer below 500: status, parsed JSON (None if not JSON), raw bytes, headers."""

    status: int
    body: Any
    content: bytes
    headers: Mapping[str, str]


class CalendarClient:
    """Client of the Calendar service; safe to share between threads of one process.

    `base_url` and `api_key` default to `CALENDAR_SERVICE_URL` and
    `CALENDAR_API_KEY`. Each call is retried up to `retries` times on
    connection errors, read timeouts and 502/503/504 (POSTs too: they always
    carry an Idempotency-Key; DELETE and PATCH, which the service makes
    idempotent; see `calendar_client.retry`). The admin calls (`update_hub`,
    `day_sheet`, `close_hub`, `withdraw_slot`) need an admin key.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 connect_timeout: float = 2.0, read_timeout: float = 5.0, retries: int = 3,
                 backoff_factor: float = 0.2, retry_after_cap: float = 2.0,
                 pool_maxsize: int = 32) -> None:
        self.base_url = (base_url or os.environ.get("CALENDAR_SERVICE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("CALENDAR_API_KEY")
        self.timeout = (connect_timeout, read_timeout)
        self._session = build_session(build_retry(retries, backoff_factor, retry_after_cap),
                                      pool_maxsize)
        self._session.headers.update({"Accept": "application/json",
                                      "User-Agent": f"itadias-calendar-client/{__version__}"})
        if self.api_key:
            self._session.auth = BearerAuth(self.api_key)

    def __repr__(self) -> str:
        # Never show the key: reprs end up in logs.
        return f"CalendarClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> CalendarClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------

    def request_raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                    json: Any = None, idempotency_key: str | None = None,
                    request_id: str | None = None) -> RawResponse:
        """Send one logical request and return any answer below 500 as it came.

        A POST always carries an Idempotency-Key (`idempotency_key` or a fresh
        uuid4); it is generated here, once, so every retry of this call reuses
        it. Raises `CalendarUnavailable` for network errors, timeouts and 5xx
        (after retries), `CalendarError` for a 2xx that is not JSON.
        """
        method = method.upper()
        headers: dict[str, str] = {}
        if request_id:
            headers["X-Request-ID"] = request_id
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        try:
            response = self._session.request(method, self.base_url + path, params=params,
                                             json=json, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CalendarUnavailable(f"calendar service unreachable: {type(exc).__name__}: {exc}"
                                      ) from exc
        body = _json_or_none(response)
        if response.status_code >= 500:
            raise error_from_response(response.status_code, body)
        if body is None and response.status_code < 400:
            raise CalendarError("calendar service answered without a JSON body",
                                status=response.status_code)
        return RawResponse(response.status_code, body, response.content, response.headers)

    def _call(self, parse: Callable[[Any], T], method: str, path: str,
              **kwargs: Any) -> T:
        """`request_raw`, then a typed exception for 4xx or `parse` of the JSON body."""
        raw = self.request_raw(method, path, **kwargs)
        if raw.status >= 400:
            raise error_from_response(raw.status, raw.body)
        try:
            return parse(raw.body)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CalendarError(f"unexpected response from {method} {path}: {exc!r}",
                                status=raw.status) from exc

    # -- the service's API ---------------------------------------------------

    def health(self, *, request_id: str | None = None) -> Health:
        """The service's self-check; a 503 (database down) raises CalendarUnavailable."""
        return self._call(Health.from_json, "GET", "/health", request_id=request_id)

    def list_hubs(self, *, request_id: str | None = None) -> list[Hub]:
        """All hubs."""
        return self._call(lambda body: [Hub.from_json(item) for item in body],
                          "GET", "/api/v1/hubs", request_id=request_id)

    def get_hub(self, hub_id: Id, *, request_id: str | None = None) -> Hub:
        """One hub; NotFound if unknown."""
        return self._call(Hub.from_json, "GET", f"/api/v1/hubs/{_segment(hub_id)}",
                          request_id=request_id)

    def list_slots(self, hub_id: Id, date: dt.date | str, *,
                   request_id: str | None = None) -> SlotList:
        """The slots of `hub_id` on the hub-local `date` (a date or 'YYYY-MM-DD').

        Strings are passed on unchecked: the service is the one judge of
        valid input and answers ValidationFailed.
        """
        return self._call(SlotList.from_json, "GET", "/api/v1/slots",
                          params={"hub": str(hub_id), "date": _day(date, "date")},
                          request_id=request_id)

    def create_booking(self, slot_id: Id, candidate_id: Id, contact_email: str,
                       session_id: str | None = None, idempotency_key: str | None = None, *,
                       request_id: str | None = None) -> Booking:
        """Hold `slot_id` for the candidate (a `pending` booking, 15 minutes).

        Raises SlotUnavailable, HoldLimitReached, NotFound or ValidationFailed.
        """
        payload: dict[str, Any] = {"slot_id": str(slot_id), "candidate_id": str(candidate_id),
                                   "contact_email": contact_email}
        if session_id is not None:
            payload["session_id"] = session_id
        return self._call(Booking.from_json, "POST", "/api/v1/bookings", json=payload,
                          idempotency_key=idempotency_key, request_id=request_id)

    def get_booking(self, booking_id: Id, *, request_id: str | None = None) -> Booking:
        """One booking; NotFound if unknown."""
        return self._call(Booking.from_json, "GET", f"/api/v1/bookings/{_segment(booking_id)}",
                          request_id=request_id)

    def confirm_booking(self, booking_id: Id, idempotency_key: str | None = None, *,
                        request_id: str | None = None) -> Booking:
        """Confirm a pending hold (idempotent); HoldExpired or InvalidState otherwise."""
        return self._call(Booking.from_json, "POST",
                          f"/api/v1/bookings/{_segment(booking_id)}/confirm",
                          idempotency_key=idempotency_key, request_id=request_id)

    def cancel_booking(self, booking_id: Id, idempotency_key: str | None = None, *,
                       request_id: str | None = None) -> Booking:
        """Cancel a hold or booking (idempotent); HoldExpired if the hold ran out."""
        return self._call(Booking.from_json, "POST",
                          f"/api/v1/bookings/{_segment(booking_id)}/cancel",
                          idempotency_key=idempotency_key, request_id=request_id)

    def join_waitlist(self, hub_id: Id, candidate_id: Id, from_date: dt.date | str,
                      to_date: dt.date | str, contact_email: str, swap_booking_id: Id | None = None,
                      idempotency_key: str | None = None, *,
                      request_id: str | None = None) -> WaitlistEntry:
        """Put the candidate on `hub_id`'s waitlist for a slot on a hub-local date in the range.

        Dates are dates or 'YYYY-MM-DD' strings, as for `list_slots`. An
        eligible free slot is offered at once (the entry comes back `offered`).
        `swap_booking_id`, the candidate's confirmed booking at the hub, asks for
        an earlier slot in its place. Raises HubNotFound, AlreadyWaiting,
        WaitlistLimitReached, InvalidSwap or ValidationFailed.
        """
        payload: dict[str, Any] = {"candidate_id": str(candidate_id), "hub_id": str(hub_id),
                                   "from_date": _day(from_date, "from_date"),
                                   "to_date": _day(to_date, "to_date"),
                                   "contact_email": contact_email}
        if swap_booking_id is not None:
            payload["swap_booking_id"] = str(swap_booking_id)
        return self._call(WaitlistEntry.from_json, "POST", "/api/v1/waitlist", json=payload,
                          idempotency_key=idempotency_key, request_id=request_id)

    def get_waitlist_entry(self, entry_id: Id, *, request_id: str | None = None) -> WaitlistEntry:
        """One waitlist entry with its place in the queue and its offer; NotFound if unknown."""
        return self._call(WaitlistEntry.from_json, "GET",
                          f"/api/v1/waitlist/{_segment(entry_id)}", request_id=request_id)

    def leave_waitlist(self, entry_id: Id, *, request_id: str | None = None) -> WaitlistEntry:
        """Leave the waitlist (idempotent), withdrawing any offer; InvalidState once fulfilled."""
        return self._call(WaitlistEntry.from_json, "DELETE",
                          f"/api/v1/waitlist/{_segment(entry_id)}", request_id=request_id)

    def resume_waitlist_entry(self, entry_id: Id, *,
                              request_id: str | None = None) -> WaitlistEntry:
        """Take a paused entry back to waiting in its place; InvalidState once fulfilled or left."""
        return self._call(WaitlistEntry.from_json, "POST",
                          f"/api/v1/waitlist/{_segment(entry_id)}/resume", request_id=request_id)

    def candidate_bookings(self, candidate_id: Id, *, status: str | None = None,
                           limit: int | None = None, cursor: str | None = None,
                           request_id: str | None = None) -> BookingPage:
        """One page of the candidate's bookings, newest first.

        Pending and confirmed only, unless `status="all"`; `limit` per page
        (the service's default 20, at most 100); `cursor` is the previous page's
        `next_cursor`. A booking made while you page never repeats one or pushes
        one out of the pages; one whose transaction began before a page was read
        may sort behind its cursor (a new walk from the first page shows it).
        No emails: each booking's `contact_email` is None.
        """
        params = {"candidate_id": str(candidate_id), "status": status, "limit": limit,
                  "cursor": cursor}
        return self._call(BookingPage.from_json, "GET", "/api/v1/bookings",
                          params={k: v for k, v in params.items() if v is not None},
                          request_id=request_id)

    def iter_candidate_bookings(self, candidate_id: Id, *, status: str | None = None,
                                page_size: int | None = None) -> Iterator[Booking]:
        """Every booking of the candidate, newest first, fetching page after page as you go."""
        cursor: str | None = None
        while True:
            page = self.candidate_bookings(candidate_id, status=status, limit=page_size,
                                           cursor=cursor)
            yield from page.bookings
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- running a hub (admin key) -------------------------------------------

    def update_hub(self, hub_id: Id, *, name: str | None = None, active: bool | None = None,
                   schedule: Mapping[str, Any] | None = None, timezone: str | None = None,
                   clear_schedule: bool = False, request_id: str | None = None) -> Hub:
        """Amend a hub: only what is given changes (`clear_schedule=True` removes the schedule).

        An inactive hub lists nothing and refuses holds; its bookings stay. A
        new schedule applies to local days not yet published. Raises
        TimezoneLocked (the hub has slots), NotFound, ValidationFailed,
        Unauthorized (not an admin key).
        """
        changes: dict[str, Any] = {"name": name, "active": active, "timezone": timezone,
                                   "schedule": None if schedule is None else dict(schedule)}
        payload = {k: v for k, v in changes.items() if v is not None}
        if clear_schedule:
            if schedule is not None:
                raise TypeError("give schedule or clear_schedule, not both")
            payload["schedule"] = None
        return self._call(Hub.from_json, "PATCH", f"/api/v1/hubs/{_segment(hub_id)}",
                          json=payload, request_id=request_id)

    def day_sheet(self, hub_id: Id, date: dt.date | str, *,
                  request_id: str | None = None) -> DaySheet:
        """The pending and confirmed bookings on the hub's local `date`, by start then lane.

        Each row carries the candidate's email: keep it out of logs.
        """
        return self._call(DaySheet.from_json, "GET", f"/api/v1/hubs/{_segment(hub_id)}/bookings",
                          params={"date": _day(date, "date")}, request_id=request_id)

    def close_hub(self, hub_id: Id, starts_at: dt.datetime | str, ends_at: dt.datetime | str,
                  reason: str, *, rebook: bool = True, idempotency_key: str | None = None,
                  request_id: str | None = None) -> HubClosure:
        """Close the hub from `starts_at` to `ends_at` (at most 31 days) for `reason`.

        Every slot in the window is withdrawn and its pending or confirmed
        booking cancelled (`cancel_reason` `hub_closed`); with `rebook`, each
        candidate whose confirmed booking was cancelled is put on the hub's
        waitlist ahead of anyone who joined after that booking was made.
        """
        payload = {"starts_at": _instant(starts_at, "starts_at"),
                   "ends_at": _instant(ends_at, "ends_at"), "reason": reason, "rebook": rebook}
        return self._call(HubClosure.from_json, "POST", f"/api/v1/hubs/{_segment(hub_id)}/closures",
                          json=payload, idempotency_key=idempotency_key, request_id=request_id)

    def withdraw_slot(self, slot_id: Id, *, rebook: bool = True, request_id: str | None = None) -> Slot:
        """Withdraw one slot (idempotent): never listed, held or offered again; its booking is
        cancelled (`cancel_reason` `slot_withdrawn`) and, unless `rebook=False`, a confirmed
        booking's candidate waits first in line at the hub. Answers the slot, status `withdrawn`."""
        return self._call(Slot.from_json, "DELETE", f"/api/v1/slots/{_segment(slot_id)}",
                          params=None if rebook else {"rebook": "false"}, request_id=request_id)

    # -- the event feed --------------------------------------------------------

    def events(self, after: int = 0, limit: int = 100, *,
               request_id: str | None = None) -> EventPage:
        """Up to `limit` events with a sequence above `after`."""
        return self._call(EventPage.from_json, "GET", "/api/v1/events",
                          params={"after": after, "limit": limit}, request_id=request_id)


def _day(value: dt.date | str, name: str) -> str:
    """A date as 'YYYY-MM-DD'; strings are passed on for the service to judge."""
    if isinstance(value, dt.datetime):
        # A datetime's calendar day depends on a time zone we would have to guess.
        raise TypeError(f"{name} must be a date, not a datetime")
    return value.isoformat() if isinstance(value, dt.date) else value


def _instant(value: dt.datetime | str, name: str) -> str:
    """An instant as ISO 8601 with its offset; strings are passed on for the service to judge."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError(f"{name} must carry a time zone: a naive datetime is no instant")
        return value.isoformat()
    return value


def _segment(resource_id: Id) -> str:
    """A resource id as a URL path segment.

    Ids are UUIDs; anything else is refused here, because an arbitrary string
    such as `..` would be resolved as a path and reach a different endpoint.
    """
    return str(resource_id if isinstance(resource_id, uuid.UUID) else uuid.UUID(str(resource_id)))


def _json_or_none(response: requests.Response) -> Any:
    """The parsed JSON body, or None when the body is empty or not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
