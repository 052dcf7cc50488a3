"""Database URL and engine options for PostgreSQL and the embedded SQLite.

SQLite has no schemas: the `calendar` schema is translated away, and each
transaction starts with BEGIN IMMEDIATE so that concurrent writers queue on
the file lock instead of failing with "database is locked" half-way through.
"""
from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

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
            "pool_pre_ping": True,
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
