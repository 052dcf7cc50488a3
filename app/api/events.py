"""GET /api/v1/events: the outbox as a feed (client API key required)."""
from flask.views import MethodView
from flask_smorest import Blueprint

from app.events.feed import read_events
from app.http.auth import requires_client
from app.schemas.event import EventFeedQuerySchema, EventFeedSchema

blp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="Event feed")


@blp.route("")
class EventFeed(MethodView):
    @requires_client
    @blp.arguments(EventFeedQuerySchema(), location="query")
    @blp.response(200, EventFeedSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def get(self, query):
        """Events after a sequence number, in order; resume with `next_after`."""
        return read_events(query["after"], query["limit"])
