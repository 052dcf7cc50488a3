"""Database URL and engine options for PostgreSQL and the embedded SQLite.

SQLite has no schemas: the `calendar` schema is translated away, and each
transaction starts with BEGIN IMMEDIATE so that concurrent writers queue on
the file lock instead of failing with "database is locked" half-way through.
"""
from __future__ import annotations

import os
import time

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from app.extensions import SCHEMA


def configure_database(app: Flask) -> None:
    """Set SQLALCHEMY_* from DATABASE_URL (default: a SQLite file in the instance folder)."""
    url = app.config["DATABASE_URL"]
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "calendar.sqlite3")
    for bare in ("postgres://", "postgresql://"):
        if url.startswith(bare):  # psycopg2 is our driver, whatever SQLAlchemy's default
            url = "postgresql+psycopg2://" + url[len(bare):]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "execution_options": {"schema_translate_map": {SCHEMA: None}},
            "hide_parameters": True,
            "connect_args": {"timeout": 15},
        }
    else:
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


def sqlite_engine_events(engine: Engine) -> None:
    """Make pysqlite transactional the way the services expect."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
