"""Hubs: public reads, admin creation and slot publishing."""
from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from app.http.auth import requires_admin
from app.schemas.hub import HubCreateSchema, HubSchema, SlotsCreatedSchema, SlotsCreateSchema
from app.schemas.hub_admin import DaySheetQuerySchema, DaySheetSchema, HubUpdateSchema
from app.services.hub_admin import day_sheet, update_hub
from app.services.hubs import add_slots, create_hub, get_hub, list_hubs

blp = Blueprint("hubs", __name__, url_prefix="/api/v1/hubs", description="Testing centres")
_ADMIN = {"security": [{"adminAuth": []}]}


@blp.route("")
class Hubs(MethodView):
    @blp.response(200, HubSchema(many=True))
    def get(self):
        """List hubs."""
        return list_hubs()

    @requires_admin
    @blp.arguments(HubCreateSchema())
    @blp.response(201, HubSchema)
    @blp.alt_response(409, description="duplicate_hub")
    @blp.doc(**_ADMIN)
    def post(self, data):
        """Create a hub (admin)."""
        return create_hub(data)


@blp.route("/<uuid:hub_id>")
class HubById(MethodView):
    @blp.response(200, HubSchema)
    def get(self, hub_id: UUID):
        """Read a hub."""
        return get_hub(hub_id)

    @requires_admin
    @blp.arguments(HubUpdateSchema())
    @blp.response(200, HubSchema)
    @blp.alt_response(409, description="timezone_locked: the hub has slots")
    @blp.alt_response(422, description="The input is invalid: `errors.json` names each field; a `code` "
                                       "(a hub's code cannot change) or an empty change is invalid too.")
    @blp.doc(**_ADMIN)
    def patch(self, data, hub_id: UUID):
        """Amend a hub (admin): name, active, schedule, time zone.

        Seen at once by every process (cached listings of the hub are dropped). An inactive hub
        lists nothing and refuses holds; its bookings stay. A new schedule applies to local days
        not yet published; published slots stay. A hub with slots keeps its time zone.
        """
        return update_hub(hub_id, data)


@blp.route("/<uuid:hub_id>/bookings")
class HubDaySheet(MethodView):
    @requires_admin
    @blp.arguments(DaySheetQuerySchema(), location="query")
    @blp.response(200, DaySheetSchema)
    @blp.doc(**_ADMIN)
    def get(self, query, hub_id: UUID):
        """The day sheet (admin): every pending and confirmed booking on the hub's local date.

        By slot start, then lane, with each candidate's contact email: the one answer that
        shows emails to anyone but the booking's own reader.
        """
        return day_sheet(hub_id, query["date"])


@blp.route("/<uuid:hub_id>/slots")
class HubSlots(MethodView):
    @requires_admin
    @blp.arguments(SlotsCreateSchema())
    @blp.response(201, SlotsCreatedSchema)
    @blp.alt_response(409, description="slot_overlap")
    @blp.alt_response(422, description="The input is invalid: `errors.json.slots.<index>` names each "
                                       "invalid slot and field, a slot that has already started included.")
    @blp.doc(**_ADMIN)
    def post(self, data, hub_id: UUID):
        """Publish slots for a hub (admin); overlaps in a lane are refused."""
        return {"slots": add_slots(hub_id, data["slots"])}
