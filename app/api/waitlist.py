"""The waitlist: join, read, leave, resume. Client API key required (the admin key works too).

The services answer an entry already in its JSON form (a join's is also what
an Idempotency-Key replays), so the views send it as it is.
"""
from uuid import UUID

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.idempotency import idempotent
from app.http.auth import requires_client
from app.schemas.waitlist import WaitlistEntrySchema, WaitlistJoinSchema
from app.services.bookings import leave_waitlist
from app.services.waitlist import JoinRequest, get_entry, join_waitlist, resume_entry

blp = Blueprint("waitlist", __name__, url_prefix="/api/v1/waitlist",
                description="Fair release: a freed slot goes to the longest waiter before anyone can see it")
_SECURED = {"security": [{"bearerAuth": []}]}
_IDEMPOTENCY = {"parameters": [{"in": "header", "name": "Idempotency-Key", "required": False,
                                "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,200}$"}}]}


@blp.route("")
class Waitlist(MethodView):
    @requires_client
    @idempotent
    @blp.arguments(WaitlistJoinSchema())
    @blp.response(201, WaitlistEntrySchema)
    @blp.alt_response(404, description="hub_not_found")
    @blp.alt_response(409, description="already_waiting, waitlist_limit or invalid_swap")
    @blp.doc(**_SECURED, **_IDEMPOTENCY)
    def post(self, data, call):
        """Join a hub's waitlist; an eligible free slot is offered at once."""
        return jsonify(join_waitlist(JoinRequest(**data), call)), 201


@blp.route("/<uuid:entry_id>")
class WaitlistEntryById(MethodView):
    @requires_client
    @blp.response(200, WaitlistEntrySchema)
    @blp.doc(**_SECURED)
    def get(self, entry_id: UUID):
        """Read a waitlist entry: its status, place in the queue and offer."""
        return jsonify(get_entry(entry_id))

    @requires_client
    @blp.response(200, WaitlistEntrySchema)
    @blp.alt_response(409, description="invalid_state (the entry was fulfilled)")
    @blp.doc(**_SECURED)
    def delete(self, entry_id: UUID):
        """Leave the waitlist; an outstanding offer is withdrawn and passed on."""
        return jsonify(leave_waitlist(entry_id))


@blp.route("/<uuid:entry_id>/resume")
class ResumeWaitlistEntry(MethodView):
    @requires_client
    @blp.response(200, WaitlistEntrySchema)
    @blp.alt_response(409, description="invalid_state (the entry was fulfilled or left)")
    @blp.doc(**_SECURED)
    def post(self, entry_id: UUID):
        """Take a paused entry back to waiting, in its original place."""
        return jsonify(resume_entry(entry_id))
