"""Hubs: public reads, admin creation and slot publishing."""
from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint

from app.http.auth import requires_admin
from app.schemas.hub import HubCreateSchema, HubSchema, SlotsCreatedSchema, SlotsCreateSchema
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
