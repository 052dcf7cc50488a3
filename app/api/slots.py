"""The free slots of a hub on a local date (public)."""
from flask.views import MethodView
from flask_smorest import Blueprint

from app.schemas.hub import SlotDayQuerySchema, SlotDaySchema
from app.services.hubs import list_free_slots

blp = Blueprint("slots", __name__, url_prefix="/api/v1/slots", description="Free slots")


@blp.route("")
class SlotDay(MethodView):
    @blp.arguments(SlotDayQuerySchema, location="query")
    @blp.response(200, SlotDaySchema)
    @blp.alt_response(404, description="Unknown hub")
    def get(self, query):
        """Slots of the hub's local date that can be held now, ordered by start."""
        return list_free_slots(query["hub"], query["date"])
