"""HTTP API: flask-smorest blueprints. Views parse, call one service, serialise."""
from flask import Flask

from app.api import bookings, closures, docs, events, health, hubs, probes, slots, waitlist
from app.api.openapi import SECURITY_SCHEMES, drop_unused_schemas
from app.extensions import api


def register_blueprints(app: Flask) -> None:
    """Mount every blueprint on the app's flask-smorest Api."""
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    for module in (health, probes, hubs, slots, bookings, waitlist, closures, events):
        api.register_blueprint(module.blp)
    drop_unused_schemas(api.spec)
    app.register_blueprint(docs.blp)  # `/` and Swagger UI's assets: not part of the API
