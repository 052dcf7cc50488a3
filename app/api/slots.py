"""The free slots of a hub on a local date (public, cached: see `app.listings.ListingCache`)."""
from functools import wraps
from uuid import UUID

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.listings import listing_cache
from app.schemas.hub import SlotDayQuerySchema, SlotDaySchema
from app.services.hubs import list_free_slots

blp = Blueprint("slots", __name__, url_prefix="/api/v1/slots", description="Free slots")
_slot_day = SlotDaySchema()


def _answer_from_cache(view):
    """Serve a cached listing before its query is parsed.

    Entries are keyed by the raw query string and stored only by the view,
    after that very query passed validation; so a hit needs no parsing, and
    anything else goes through the parser as usual.
    """
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            hub_id = UUID(request.args.get("hub", ""))
        except ValueError:
            return view(*args, **kwargs)
        body, g.listing_version = listing_cache().lookup(hub_id, request.query_string)
        if body is not None:
            return Response(body, mimetype="application/json")
        return view(*args, **kwargs)
    return wrapper


@blp.route("")
class SlotDay(MethodView):
    @_answer_from_cache
    @blp.arguments(SlotDayQuerySchema(), location="query")
    @blp.response(200, SlotDaySchema)
    @blp.alt_response(404, description="Unknown hub")
    def get(self, query):
        """Slots of the hub's local date that can be held now, ordered by start.

        Served from a cache that every committed change of the hub invalidates;
        without Redis a listing may be up to LISTING_CACHE_SECONDS (1 s) old.
        """
        listing = list_free_slots(query["hub"], query["date"])
        body = current_app.json.dumps(_slot_day.dump(listing)).encode()
        if "listing_version" in g:
            listing_cache().store(query["hub"], request.query_string, g.listing_version, body)
        return Response(body, mimetype="application/json")
