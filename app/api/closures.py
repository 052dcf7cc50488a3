"""Running a hub (admin): close it for a window, withdraw one slot.

The closure service answers in its JSON form (also what an Idempotency-Key
replays), so the view sends it as it is.
"""
from uuid import UUID

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.idempotency import idempotent
from app.http.auth import requires_admin
from app.schemas.closure import ClosureCreateSchema, ClosureSchema, WithdrawQuerySchema
from app.schemas.hub import SlotSchema
from app.services.closures import ClosureRequest, close_hub, withdraw_slot

blp = Blueprint("closures", __name__, url_prefix="/api/v1",
                description="Running a hub: closures and withdrawn slots (admin)")
_ADMIN = {"security": [{"adminAuth": []}]}
_IDEMPOTENCY = {"parameters": [{"in": "header", "name": "Idempotency-Key", "required": False,
                                "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,200}$"}}]}
_CLOSURE_EXAMPLE = {
    "id": "0f8e9a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "hub_id": "550e8400-e29b-41d4-a716-446655440000",
    "starts_at": "2026-12-01T13:00:00+00:00", "ends_at": "2026-12-02T23:00:00+00:00",
    "reason": "Snow: the test routes are closed", "rebook": True, "created_at": "2026-11-30T18:02:11+00:00",
    "slots_withdrawn": 24, "bookings_cancelled": ["7d3c1a2b-1111-4c4c-8d8d-0a0b0c0d0e0f"],
    "waitlist_entries": ["5a6b7c8d-2222-4e4e-9f9f-1a2b3c4d5e6f"]}


@blp.route("/hubs/<uuid:hub_id>/closures")
class HubClosures(MethodView):
    @requires_admin
    @idempotent
    @blp.arguments(ClosureCreateSchema())
    @blp.response(201, ClosureSchema, example=_CLOSURE_EXAMPLE)
    @blp.alt_response(422, description="The input is invalid: `errors.json.ends_at` says why a window is "
                                       "refused (not after starts_at, longer than 31 days, or past).")
    @blp.doc(**_ADMIN, **_IDEMPOTENCY)
    def post(self, data, hub_id: UUID, call):
        """Close a hub for a window (admin): its slots there are withdrawn, their bookings cancelled.

        Pending and confirmed bookings on those slots are cancelled (`cancel_reason` hub_closed);
        a hold that had already run out ends as expired, hold_expired, and is not listed in
        bookings_cancelled. An offer on a withdrawn slot is cancelled too, and its waitlist entry
        waits again in its place. With `rebook` (the default) each candidate whose confirmed
        booking was cancelled waits on the hub's waitlist ahead of everyone who joined after that
        booking was made, for today .. the old date + 28 days, with no strikes. That entry is the
        service's doing: WAITLIST_MAX_ENTRIES and WAITLIST_MAX_DAYS do not refuse it (it may take
        the candidate past the cap), but it counts toward the cap for the candidate's own joins.
        Withdrawn slots are never listed, held or offered again, and a closure cannot be undone:
        their times stay taken (adding a slot there is a 409 slot_overlap).
        """
        return jsonify(close_hub(ClosureRequest(hub_id=hub_id, **data), call)), 201


@blp.route("/slots/<uuid:slot_id>")
class SlotById(MethodView):
    @requires_admin
    @blp.arguments(WithdrawQuerySchema(), location="query")
    @blp.response(200, SlotSchema, example={
        "id": "550e8400-e29b-41d4-a716-446655440001", "hub_id": "550e8400-e29b-41d4-a716-446655440000",
        "starts_at": "2026-12-01T13:00:00+00:00", "ends_at": "2026-12-01T14:00:00+00:00",
        "status": "withdrawn"})
    @blp.alt_response(409, description="invalid_state (the slot has already started)")
    @blp.doc(**_ADMIN)
    def delete(self, query, slot_id: UUID):
        """Withdraw a slot (admin); its booking is cancelled (`cancel_reason` slot_withdrawn).

        As a closure does for each of its slots: a hold that had already run out ends as expired,
        and a confirmed booking's candidate is rebooked first in line unless `rebook=false`.
        Withdrawing a withdrawn slot answers it again (200); it cannot be undone.
        """
        return withdraw_slot(slot_id, query["rebook"])
