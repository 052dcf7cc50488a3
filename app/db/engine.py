"""The PostgreSQL engine: its URL and options, and the pool's handling of dead connections.

Connections the server closed (a restart) are thrown away at checkout and
never fail a request's teardown.
"""
from __future__ import annotations

import logging
import select
import time

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

from app.config import ConfigError
from app.extensions import db

log = logging.getLogger(__name__)


def configure_database(app: Flask) -> None:
    """Set SQLALCHEMY_* from DATABASE_URL (PostgreSQL; scripts/run starts an embedded one)."""
    url = app.config["DATABASE_URL"]
    if not url:
        raise ConfigError("DATABASE_URL is required (scripts/run starts an embedded PostgreSQL "
                          "when it is unset)")
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):  # psycopg2 is our driver, whatever SQLAlchemy's default
            url = "postgresql+psycopg2://" + url[len(bare):]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        # No pre-ping on every checkout (a round trip per request): see
        # `ping_idle_connections` for what replaces it.
        "hide_parameters": True,  # errors get logged; parameters hold emails
        # Per process: size it to the gunicorn threads (+3 worker loops), and
        # keep workers x (size + overflow) under PostgreSQL's max_connections.
        "pool_size": app.config["DB_POOL_SIZE"],
        "max_overflow": app.config["DB_MAX_OVERFLOW"],
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 5,
                         "options": "-c statement_timeout=10000 -c lock_timeout=5000 "
                                    "-c idle_in_transaction_session_timeout=60000"},
    }


def init_engine(app: Flask) -> None:
    """Configure and bind the engine, with the pool's dead-connection checks and quiet teardown."""
    configure_database(app)
    db.init_app(app)
    end_request_sessions_quietly(app)
    with app.app_context():
        discard_closed_connections(db.engine)  # first: a poll, no round trip
        ping_idle_connections(db.engine)


IDLE_PING_SECONDS = 10.0


def ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled connection at checkout only if it sat idle for IDLE_PING_SECONDS.

    A busy connection proves itself with every request, so a ping before each
    one buys nothing but a round trip. An idle one may have been cut (server
    restart, firewall): the ping finds out and the pool connects afresh
    instead. A connection that dies while in use fails its request (503,
    Retry-After) and SQLAlchemy then invalidates the whole pool, so every
    older connection is replaced on its next checkout: recovery needs no
    restart.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError() from exc
        if not alive:
            raise DisconnectionError()


def discard_closed_connections(engine: Engine) -> None:
    """Replace, at checkout, a pooled connection that the server has closed.

    A server going down tells each connection so (a FATAL notice, then EOF)
    and an idle connection has nothing else to read: a readable one is dead.
    One poll(), no round trip, so it runs on every checkout and also catches
    what `ping_idle_connections` leaves to a failed request (a restart within
    IDLE_PING_SECONDS of the connection's last use); raising
    DisconnectionError makes the pool connect afresh before any request sees it.
    """

    @event.listens_for(engine, "checkout")
    def _discard_if_closed(dbapi_connection, _record, _proxy):
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        if dbapi_connection.closed or poller.poll(0):
            raise DisconnectionError("the server closed this pooled connection")


def end_request_sessions_quietly(app: Flask) -> None:
    """Close the context's session before flask-sqlalchemy removes it, whatever the connection.

    If the server closed the connection after the request's last statement,
    closing (a rollback) raises and gunicorn turns a finished answer into a
    bodyless 500. Register after `db.init_app`: Flask runs the last-registered
    teardown first. close(), unlike rollback(), keeps loaded objects readable.
    """

    @app.teardown_appcontext
    def _close(_exc):
        if not db.session.registry.has():
            return
        try:
            db.session.close()
        except SQLAlchemyError as exc:  # the pool has invalidated the dead connection already
            log.warning("closing the session failed: %s", exc.__class__.__name__)
