"""Probes for orchestrators: /health/live (the process answers) and /health/ready (it can serve).

Liveness touches nothing outside the process, so an outage of the database or
Redis never gets a healthy process restarted. Readiness needs the database,
the one dependency without which no request can be served. `/health` keeps
its fuller report for humans.
"""
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.openapi import DEPENDENCY_FREE
from app.ops.health import check_ready

blp = Blueprint("probes", __name__, description="Liveness and readiness probes")


class LiveSchema(Schema):
    status = fields.String(metadata={"example": "alive"})


class ReadySchema(Schema):
    status = fields.String(metadata={"description": "ready or unavailable", "example": "ready"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"example": {"database": "ok"}})


@blp.route("/health/live")
class Live(MethodView):
    @blp.response(200, LiveSchema)
    @blp.doc(**DEPENDENCY_FREE)
    def get(self):
        """200 while the process runs; touches no dependency."""
        return {"status": "alive"}


@blp.route("/health/ready")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="The database is unreachable")
    def get(self):
        """200 when the database answers, 503 when it does not."""
        report, ready = check_ready()
        return report, (200 if ready else 503)
