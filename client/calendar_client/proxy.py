"""A Flask blueprint that exposes the Calendar service to the platform's front end.

    app.register_blueprint(create_calendar_proxy())

It is a pass-through, not a second API: 2xx and 4xx answers keep the
service's status and JSON bytes, so the front end sees exactly the service's
error shape. Anything that means "the service is not answering" (down,
timeout, 5xx after the client's retries) becomes one 503 in that same shape,
and no request waits longer than the client's timeouts and retries allow. The proxy's own refusals
(non-JSON body, missing parameter, malformed id) use the same shape too.
"""
from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from calendar_client.client import CalendarClient, RawResponse
from calendar_client.errors import CalendarError

log = logging.getLogger(__name__)
# Anything else (too long, odd characters) is replaced, not forwarded: the id
# ends up in the service's logs and headers.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def error_response(status: int, message: str, **extra: Any) -> Response:
    """The Calendar service's error shape, for errors the proxy produces itself."""
    response = jsonify({"code": status, "status": _phrase(status), "message": message, **extra})
    response.status_code = status
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status Python does not name, e.g. nginx's 499
        return f"HTTP {status}"


_PASSED_HEADERS = ("Retry-After", "Idempotent-Replayed")
_BOOKING_PAGE_PARAMS = ("candidate_id", "status", "limit", "cursor")
# The proxy answers a browser that is waiting: fewer, shorter tries than the
# client's defaults. Worst case about 2 x (1 s + 3 s) + 0.5 s, far below any
# web worker timeout.
PROXY_CLIENT_DEFAULTS = {"connect_timeout": 1.0, "read_timeout": 3.0, "retries": 1,
                         "retry_after_cap": 0.5}


def proxy_client(**client_kwargs: Any) -> CalendarClient:
    """A `CalendarClient` with the proxy's defaults (`PROXY_CLIENT_DEFAULTS`), then `client_kwargs`.

    Build the client here whenever it serves a waiting browser: the library's own
    defaults (2 s / 5 s, 3 retries) can keep a request hanging for over 20 s.
    """
    return CalendarClient(**{**PROXY_CLIENT_DEFAULTS, **client_kwargs})


def _relay(raw: RawResponse) -> Response:
    """The service's answer, unchanged; a non-JSON 4xx gets the error shape."""
    if raw.body is None:
        return error_response(raw.status, _phrase(raw.status))
    response = Response(raw.content, status=raw.status, mimetype="application/json")
    for name in _PASSED_HEADERS:
        if name in raw.headers:
            response.headers[name] = raw.headers[name]
    return response


def _resource_path(collection: str, resource_id: str, action: str = "") -> str | None:
    """The service path of a booking or waitlist entry, or None when the id is not a UUID."""
    try:
        return f"/api/v1/{collection}/{uuid.UUID(resource_id)}{action}"
    except ValueError:
        return None


def create_calendar_proxy(client: CalendarClient | None = None, url_prefix: str = "/api/calendar",
                          name: str = "calendar_proxy", **client_kwargs: Any) -> Blueprint:
    """A blueprint forwarding `url_prefix`/... to the Calendar service.

    `client` defaults to `proxy_client(**client_kwargs)`, i.e. the proxy's timeouts
    and the CALENDAR_SERVICE_URL / CALENDAR_API_KEY environment; pass your own only
    if it is built the same way. The host app decides who may call it: add its own
    checks with `bp.before_request`.
    """
    calendar = client if client is not None else proxy_client(**client_kwargs)
    bp = Blueprint(name, __name__, url_prefix=url_prefix)

    def forward(method: str, path: str, **kwargs: Any) -> Response:
        try:
            raw = calendar.request_raw(method, path, request_id=g.calendar_request_id,
                                       idempotency_key=request.headers.get("Idempotency-Key"),
                                       **kwargs)
        except CalendarError as exc:
            log.warning("calendar %s %s failed (request %s): %r", method, path,
                        g.calendar_request_id, exc)
            unavailable = error_response(503, "calendar service unavailable")
            unavailable.headers["Retry-After"] = "1"
            return unavailable
        if raw.status in (401, 403):
            # The browser did nothing wrong: this backend's CALENDAR_API_KEY is.
            log.error("calendar service refused this backend's API key (%s, request %s)",
                      raw.status, g.calendar_request_id)
            return error_response(502, "calendar service rejected the backend's credentials")
        return _relay(raw)

    @bp.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.calendar_request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @bp.after_request
    def echo_request_id(response: Response) -> Response:
        if "calendar_request_id" in g:
            response.headers["X-Request-ID"] = g.calendar_request_id
        return response

    @bp.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        # Keep the one JSON shape even for our own bugs; the trace goes to the log only.
        if isinstance(exc, HTTPException) and exc.code:
            return error_response(exc.code, exc.description or _phrase(exc.code))
        log.exception("calendar proxy failed")
        return error_response(500, "internal error")

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def not_found(unknown: str) -> Response:
        """Anything else under the prefix: the error shape, not Flask's HTML page."""
        return error_response(404, "not found")

    @bp.get("/health")
    def health() -> Response:
        """The Calendar service's health."""
        return forward("GET", "/health")

    @bp.get("/hubs")
    def hubs() -> Response:
        """Every hub (code, name, time zone, whether it is active)."""
        return forward("GET", "/api/v1/hubs")

    @bp.get("/slots")
    def slots() -> Response:
        """Slots of a hub on its local `date` (YYYY-MM-DD).

        The hub is `hub`, as the service names it, or `hub_id`; both only when they agree.
        """
        hub, hub_id = request.args.get("hub"), request.args.get("hub_id")
        errors: dict[str, list[str]] = {}
        if not (hub or hub_id):
            errors["hub_id"] = ["Missing data for required field."]
        elif hub and hub_id and hub != hub_id:
            errors["hub_id"] = ["Differs from hub: give one of them."]
        if not request.args.get("date"):
            errors["date"] = ["Missing data for required field."]
        if errors:
            return error_response(422, "the input is invalid", errors={"query": errors})
        return forward("GET", "/api/v1/slots", params={"hub": hub or hub_id, "date": request.args["date"]})

    def create(path: str) -> Response:
        # The JSON object goes to the service as it is: the service judges its fields.
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object")
        return forward("POST", path, json=body)

    def resource_call(method: str, collection: str, resource_id: str,
                      action: str = "") -> Response:
        path = _resource_path(collection, resource_id, action)
        if path is None:
            return error_response(404, "not found")
        return forward(method, path)

    @bp.post("/bookings")
    def create_booking() -> Response:
        """Hold a slot; the JSON body goes to the service as it is."""
        return create("/api/v1/bookings")

    @bp.get("/bookings")
    def candidate_bookings() -> Response:
        """A candidate's bookings, newest first: `candidate_id`, and `status`, `limit`, `cursor`.

        Only those parameters go to the service; it judges them. Which candidate a
        caller may ask about is the host app's decision (`before_request`); the
        service's answer carries no emails, so asking about someone else shows none.
        """
        params = {name: request.args[name] for name in _BOOKING_PAGE_PARAMS if name in request.args}
        return forward("GET", "/api/v1/bookings", params=params)

    @bp.get("/bookings/<booking_id>")
    def get_booking(booking_id: str) -> Response:
        """One booking."""
        return resource_call("GET", "bookings", booking_id)

    @bp.post("/bookings/<booking_id>/confirm")
    def confirm_booking(booking_id: str) -> Response:
        """Confirm a held booking (or accept a waitlist offer)."""
        return resource_call("POST", "bookings", booking_id, "/confirm")

    @bp.post("/bookings/<booking_id>/cancel")
    def cancel_booking(booking_id: str) -> Response:
        """Cancel a hold or booking (or decline a waitlist offer)."""
        return resource_call("POST", "bookings", booking_id, "/cancel")

    @bp.post("/waitlist")
    def join_waitlist() -> Response:
        """Join a hub's waitlist; the JSON body goes to the service as it is."""
        return create("/api/v1/waitlist")

    @bp.get("/waitlist/<entry_id>")
    def get_waitlist_entry(entry_id: str) -> Response:
        """One waitlist entry: its status, place in the queue and offer."""
        return resource_call("GET", "waitlist", entry_id)

    @bp.delete("/waitlist/<entry_id>")
    def leave_waitlist(entry_id: str) -> Response:
        """Leave the waitlist; an outstanding offer is withdrawn."""
        return resource_call("DELETE", "waitlist", entry_id)

    @bp.post("/waitlist/<entry_id>/resume")
    def resume_waitlist_entry(entry_id: str) -> Response:
        """Take a paused waitlist entry back to waiting."""
        return resource_call("POST", "waitlist", entry_id, "/resume")

    return bp
