"""GET /health: 200 ok/degraded, 503 when the database is down."""
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.ops.health import check_health

blp = Blueprint("health", __name__, description="Liveness and dependencies")


class HealthSchema(Schema):
    status = fields.String(metadata={"description": "ok, degraded or unavailable"})
    checks = fields.Dict(keys=fields.String(), values=fields.String())
    gate = fields.Dict(metadata={"description": "Redis gate reconciliation: stale keys found/removed"})


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
