"""Per-run PostgreSQL database, Redis key prefix and RabbitMQ names.

Each test run gets its own database and names so runs can go side by side,
and beside a developer's own server, on the same PostgreSQL/Redis/RabbitMQ.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import Callable, Iterator

import psycopg2
from psycopg2 import sql

RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
REDIS_PREFIX = f"calendar-test-{RUN_ID}:"
EXCHANGE = f"calendar.events.test-{RUN_ID}"
TABLES = ("bookings", "slots", "hubs", "outbox_events", "idempotency_keys")


def _admin_connection():
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    return conn


def database_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def create_database(name: str) -> str:
    """Create an empty database `name` and return its URL."""
    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return database_url(name)


def drop_database(name: str) -> None:
    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


@contextlib.contextmanager
def migrated_database(name: str, settings: Callable[[str], dict[str, str]]) -> Iterator[str]:
    """A fresh database `name` brought to the head revision by our migrations; dropped afterwards.

    `settings(url)` is the app configuration to migrate it with.
    """
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    url = create_database(name)
    try:
        app = create_app(settings(url))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield url
    finally:
        drop_database(name)


def truncate_all(url: str) -> None:
    """Empty every table of the calendar schema."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("TRUNCATE " + ", ".join(f"calendar.{t}" for t in TABLES)
                        + " RESTART IDENTITY CASCADE")
    finally:
        conn.close()


def clear_redis(client, prefix: str = REDIS_PREFIX) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


def delete_exchange(name: str) -> None:
    """Best effort: a broker that is down has nothing to clean."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except pika.exceptions.AMQPError:
        return
    try:
        connection.channel().exchange_delete(name)
    finally:
        connection.close()
