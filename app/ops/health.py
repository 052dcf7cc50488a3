"""What /health reports: each backing service's state, and the overall verdict.

The database is essential (down -> 503). Redis and the broker are not: holds
fall back to database-only locking, events wait in the outbox; either one
missing makes the service `degraded`, not down.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.events.feed import outbox_backlog_seconds
from app.extensions import db
from app.gate import slot_gate
from app.gate.reconcile import gate_report

log = logging.getLogger(__name__)


def _database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        log.warning("health: database unavailable (%s)", exc.__class__.__name__)
        db.session.rollback()
        return "unavailable"


BACKLOG_WARNING_SECONDS = 30


def _broker() -> str:
    """'disabled' without RABBITMQ_URL; 'backlog' when events wait too long to go out.

    The API never talks to the broker itself (the relay does), so the outbox's
    oldest unpublished event is the honest measure of delivery.
    """
    if not current_app.config["RABBITMQ_URL"]:
        return "disabled"
    try:
        age = outbox_backlog_seconds()
    except SQLAlchemyError:
        db.session.rollback()
        return "unknown"
    return "backlog" if age is not None and age > BACKLOG_WARNING_SECONDS else "ok"


def check_ready() -> tuple[dict, bool]:
    """(report, ready): ready when the database answers, whatever Redis and the broker do."""
    database = _database()
    ready = database == "ok"
    return {"status": "ready" if ready else "unavailable", "checks": {"database": database}}, ready


def check_health() -> tuple[dict, bool]:
    """(report, database_ok)."""
    checks = {"database": _database(), "redis": slot_gate().ping(), "broker": _broker()}
    degraded = any(state not in ("ok", "disabled") for state in checks.values())
    report = {"status": "degraded" if degraded else "ok", "checks": checks}
    gate = gate_report() if checks["redis"] == "ok" else None
    if gate is not None:
        report["gate"] = gate  # stale lock keys found and removed by the sweeper
    return report, checks["database"] == "ok"
