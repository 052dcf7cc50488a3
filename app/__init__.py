"""The Calendar service: hub time slots, 15-minute holds, bookings, events.

`create_app` is the only entry point; it registers extensions, blueprints,
error handlers, request guards and CLI commands, and opens no connection.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping

from flask import Flask

from app import cli, gate, listings
from app.api import register_blueprints
from app.api.docs import ASSETS_URL as SWAGGER_UI_ASSETS_URL
from app.api.openapi import API_DESCRIPTION, ErrorResponsesPlugin, ErrorSchema
from app.config import Settings
from app.db import uow
from app.db.engine import init_engine
from app.events.feed import outbox_backlog_for_scrape
from app.extensions import api, db, migrate
from app.http import guards, ratelimits
from app.http.errors import register_errorhandlers
from app.http.json import OrjsonProvider
from app.observability import exposition, metrics
from app.observability.logs import configure_logging
from app.services.waitlist import waiting_for_scrape

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment, overridden by `config` (env-style strings)."""
    app = Flask(__name__, instance_relative_config=True)
    app.json = OrjsonProvider(app)
    settings = Settings.from_env({**os.environ, **(config or {})})
    app.config.update(settings.as_flask_config())
    configure_logging(app)
    exposition.init_app(app, read_backlog=outbox_backlog_for_scrape, read_waiting=waiting_for_scrape)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_guards(app)
    cli.init_app(app)
    if not settings.auth_enabled:
        log.warning("no API_KEYS/ADMIN_API_KEYS set: every endpoint is open (development only)")
    return app


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, the OpenAPI Api, the Redis gate and the listing cache to `app`."""
    init_engine(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    app.config.update(
        API_TITLE="ITADIAS Calendar service", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS_URL,  # served by the app: works offline
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
    )
    api.ERROR_SCHEMA = ErrorSchema  # our error shape, with `error` on 409
    api.DEFAULT_ERROR_RESPONSE_NAME = None  # each error status is listed instead (ErrorResponsesPlugin)
    api.init_app(app, spec_kwargs={"extra_plugins": [ErrorResponsesPlugin()]})
    gate.init_app(app)
    listings.init_app(app)  # drops a hub's cached listings after each commit that changes it
    uow.on_commit(app, metrics.count_committed)  # counts what committed, whoever committed it


def register_request_guards(app: Flask) -> None:
    """Body size and type first (headers only), then rate limits."""
    guards.init_app(app)
    ratelimits.init_app(app)
