"""Logging: one JSON object per line (python-json-logger), or text with LOG_FORMAT=text.

Every JSON line has timestamp, level, logger, message, request_id, method,
path, status and duration_ms (null where they do not apply). gunicorn's own
lines, its access log included, go through the same formatter
(`GunicornLogger`, named in gunicorn.conf.py), so each request leaves one
line with its status and duration. A text line shows the request id only
when it has one, and an access line its duration.

Without LOG_FORMAT, a `flask` command whose stderr is a terminal logs text;
everything else (gunicorn, a command in a pipe or a container) logs JSON.

Never bodies, query strings or emails: access lines carry the path only, the
database hides statement parameters, and events are logged without contacts.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid

import click
from flask import Flask, g, has_request_context, request
from gunicorn.glogging import Logger as _GunicornBaseLogger
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RequestFields(logging.Filter):
    """Give every record the request fields: from the Flask request, the caller's extra, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if has_request_context():
            fields.setdefault("request_id", g.get("request_id"))
            fields.setdefault("method", request.method)
            fields.setdefault("path", request.path)
        for name in REQUEST_FIELDS:
            fields.setdefault(name, None)
        return True


def current_request_id() -> str | None:
    """The id of the request being answered (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


class _TextFormatter(logging.Formatter):
    """Text lines: `[request id]` before the message and the duration after it, where they apply."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        request_id = getattr(record, "request_id", None)
        duration_ms = getattr(record, "duration_ms", None)
        if request_id is not None:
            message = f"[{request_id}] {message}"
        if duration_ms is not None:
            message = f"{message} {duration_ms:.1f} ms"
        return TEXT_FORMAT % {**record.__dict__, "message": message}


def make_formatter(log_format: str) -> logging.Formatter:
    """JSON (the default) or text for humans."""
    if log_format == "text":
        return _TextFormatter(TEXT_FORMAT)
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"})


def _log_format() -> str:
    return os.environ.get("LOG_FORMAT", "").strip().lower() or "json"


def log_format_for(app: Flask) -> str:
    """LOG_FORMAT when it is set; otherwise text for a `flask` command on a terminal, else JSON.

    The `flask` command line builds the app inside its click context; gunicorn
    and tests build it outside any.
    """
    if os.environ.get("LOG_FORMAT", "").strip():
        return app.config["LOG_FORMAT"]
    on_a_terminal = click.get_current_context(silent=True) is not None and sys.stderr.isatty()
    return "text" if on_a_terminal else app.config["LOG_FORMAT"]


def configure_logging(app: Flask) -> None:
    """Log to stderr (see `log_format_for`); tag every response with its X-Request-ID."""
    root = logging.getLogger()
    if not any(getattr(h, "_calendar", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._calendar = True
        handler.addFilter(RequestFields())
        handler.setFormatter(make_formatter(log_format_for(app)))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("pika").setLevel(logging.WARNING)  # chatty at INFO

    @app.before_request
    def _assign_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        return response


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger, writing its lines and one access line per request in LOG_FORMAT."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = make_formatter(_log_format())
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(formatter)
            handler.addFilter(RequestFields())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.cfg.accesslog:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        self.access_log.info("%s %s %s", method, path, status, extra={
            "request_id": request_id, "method": method, "path": path, "status": int(status),
            "duration_ms": round(request_time.total_seconds() * 1000, 3)})
