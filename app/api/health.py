"""GET /health: 200 ok/degraded, 503 when the database is down; /health/live and /health/ready probes."""
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.services.health import check_health

blp = Blueprint("health", __name__, description="Liveness and dependencies")


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok, degraded or unavailable"})
    checks = fields.Dict(keys=fields.String(), values=fields.String())


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
    def get(self):
        """Service health and the state of each backing service."""
        report, database_ok = check_health()
        if not database_ok:
            return {**report, "status": "unavailable"}, 503
        return report


@blp.route("/health/live")
class Live(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Liveness: the process answers; touches no dependency (container and pod probes)."""
        return {"status": "ok", "checks": {}}


@blp.route("/health/ready")
class Ready(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
    def get(self):
        """Readiness: 503 while the database is unreachable, so no traffic is routed here."""
        report, database_ok = check_health()
        return (report, 200) if database_ok else ({**report, "status": "unavailable"}, 503)
