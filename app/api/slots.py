"""The free slots of a hub on a local date (public, cached: see `app.cache.ListingCache`)."""
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from app.cache import listing_cache
from app.schemas.hub import SlotDayQuerySchema, SlotDaySchema
from app.services.hubs import list_free_slots

blp = Blueprint("slots", __name__, url_prefix="/api/v1/slots", description="Free slots")
_slot_day = SlotDaySchema()


@blp.route("")
class SlotDay(MethodView):
    @blp.arguments(SlotDayQuerySchema(), location="query")
    @blp.response(200, SlotDaySchema)
    @blp.alt_response(404, description="Unknown hub")
    def get(self, query):
        """Slots of the hub's local date that can be held now, ordered by start.

        Served from a cache that every committed change of the hub invalidates;
        without Redis a listing may be up to LISTING_CACHE_SECONDS (1 s) old.
        """
        def render() -> bytes:
            listing = list_free_slots(query["hub"], query["date"])
            return current_app.json.dumps(_slot_day.dump(listing)).encode()

        body = listing_cache().get_or_build(query["hub"], query["date"], render)
        return Response(body, mimetype="application/json")
