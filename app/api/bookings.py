"""Bookings: hold a slot, read, confirm, cancel. Client API key required."""
from uuid import UUID

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.idempotency import idempotent
from app.http.auth import requires_client
from app.http.ratelimits import hold_budget
from app.schemas.booking import BookingCreateSchema, BookingSchema
from app.schemas.candidate_bookings import BookingPageSchema, CandidateBookingsQuerySchema
from app.services.bookings import cancel_booking, confirm_booking, get_booking
from app.services.candidate_bookings import candidate_bookings
from app.services.holds import HoldRequest, hold_slot

blp = Blueprint("bookings", __name__, url_prefix="/api/v1/bookings",
                description="Holds (15 minutes), confirmations and cancellations")
_SECURED = {"security": [{"bearerAuth": []}]}
_IDEMPOTENCY = {"parameters": [{"in": "header", "name": "Idempotency-Key", "required": False,
                                "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,200}$"}}]}


@blp.route("")
class Bookings(MethodView):
    @requires_client
    @idempotent(checked_by_service=True)
    @blp.arguments(BookingCreateSchema())
    @blp.response(201, BookingSchema)
    @blp.alt_response(404, description="Unknown slot")
    @blp.alt_response(409, description="slot_unavailable or candidate_hold_limit")
    @blp.doc(**_SECURED, **_IDEMPOTENCY)
    def post(self, data, call):
        """Hold a slot for the candidate (pending booking)."""
        return jsonify(hold_slot(HoldRequest(**data), call, hold_budget(data["candidate_id"]))), 201

    @requires_client
    @blp.arguments(CandidateBookingsQuerySchema(), location="query")
    @blp.response(200, BookingPageSchema)
    @blp.doc(**_SECURED)
    def get(self, query):
        """A candidate's bookings, newest first, a page at a time.

        Pending and confirmed only, or every status with `status=all`. Follow `next_cursor` for
        the next page; a booking made meanwhile never repeats one or pushes one out of the pages,
        but one whose transaction began before a page was read may sort behind its cursor (a new
        walk from the first page shows it). No `contact_email`: the day sheet is the only answer
        that shows emails to anyone but the booking's own reader.
        """
        return candidate_bookings(query["candidate_id"], every_status=query.get("status") == "all",
                                  limit=query["limit"], after=query.get("cursor"))


@blp.route("/<uuid:booking_id>")
class BookingById(MethodView):
    @requires_client
    @blp.response(200, BookingSchema)
    @blp.doc(**_SECURED)
    def get(self, booking_id: UUID):
        """Read a booking."""
        return get_booking(booking_id)


@blp.route("/<uuid:booking_id>/confirm")
class ConfirmBooking(MethodView):
    @requires_client
    @idempotent
    @blp.response(200, BookingSchema)
    @blp.alt_response(409, description="hold_expired or invalid_state")
    @blp.doc(**_SECURED, **_IDEMPOTENCY)
    def post(self, booking_id: UUID, call):
        """Confirm a pending booking before its hold runs out (idempotent)."""
        return confirm_booking(booking_id, call)


@blp.route("/<uuid:booking_id>/cancel")
class CancelBooking(MethodView):
    @requires_client
    @idempotent
    @blp.response(200, BookingSchema)
    @blp.alt_response(409, description="hold_expired or invalid_state")
    @blp.doc(**_SECURED, **_IDEMPOTENCY)
    def post(self, booking_id: UUID, call):
        """Cancel a pending or confirmed booking (idempotent)."""
        return cancel_booking(booking_id, call)
