"""Logging: one JSON object per line (python-json-logger), or text with LOG_FORMAT=text.

Every JSON line has timestamp, level, logger, message, request_id, method,
path, status and duration_ms (null where they do not apply). gunicorn's own
lines, its access log included, go through the same formatter
(`GunicornLogger`, named in gunicorn.conf.py), so each request leaves one
line with its status and duration.

Never bodies, query strings or emails: access lines carry the path only, the
database hides statement parameters, and events are logged without contacts.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid

from flask import Flask, g, has_request_context, request
from gunicorn.glogging import Logger as _GunicornBaseLogger
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


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


class _TextFormatter(logging.Formatter):
    """Text lines; "-" where a line has no request id."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line.replace(" [None] ", " [-] ", 1) if getattr(record, "request_id", None) is None else line


def make_formatter(log_format: str) -> logging.Formatter:
    """JSON (the default) or text for humans."""
    if log_format == "text":
        return _TextFormatter(TEXT_FORMAT)
    return JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"})


def _log_format() -> str:
    return os.environ.get("LOG_FORMAT", "").strip().lower() or "json"


def configure_logging(app: Flask) -> None:
    """Log to stderr in LOG_FORMAT; tag every response with its X-Request-ID."""
    root = logging.getLogger()
    if not any(getattr(h, "_calendar", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._calendar = True
        handler.addFilter(RequestFields())
        handler.setFormatter(make_formatter(app.config["LOG_FORMAT"]))
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
