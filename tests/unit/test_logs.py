"""Log lines for humans: what a text line shows, and when a `flask` command picks text."""
from __future__ import annotations

import logging
import sys
import types

import click
import pytest

from app.observability.logs import RequestFields, log_format_for, make_formatter


def text_line(message: str, **extra) -> str:
    record = logging.LogRecord("calendar.test", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    RequestFields().filter(record)
    return make_formatter("text").format(record)


def test_a_line_outside_a_request_says_nothing_about_requests():
    line = text_line("created 24 slots for GEN")
    assert line.endswith(" INFO calendar.test created 24 slots for GEN")
    assert "[" not in line and "None" not in line and " ms" not in line


def test_a_line_in_a_request_names_its_request_id():
    assert text_line("hold refused", request_id="req-1").endswith(" calendar.test [req-1] hold refused")


def test_a_text_access_line_carries_the_duration():
    line = text_line("GET /api/v1/hubs 200", request_id="req-2", method="GET", path="/api/v1/hubs",
                     status=200, duration_ms=3.456)
    assert line.endswith(" [req-2] GET /api/v1/hubs 200 3.5 ms")


@pytest.fixture
def terminal(monkeypatch):
    """stderr is a terminal and LOG_FORMAT unset, unless a test sets it."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    return monkeypatch


APP = types.SimpleNamespace(config={"LOG_FORMAT": "json"})  # Settings' default when LOG_FORMAT is unset


def test_a_flask_command_on_a_terminal_logs_text(terminal):
    with click.Context(click.Command("seed-hubs")):
        assert log_format_for(APP) == "text"


def test_log_format_set_wins_over_the_terminal(terminal):
    terminal.setenv("LOG_FORMAT", "json")
    with click.Context(click.Command("seed-hubs")):
        assert log_format_for(APP) == "json"


def test_outside_a_command_or_off_a_terminal_logs_json(terminal):
    assert log_format_for(APP) == "json"  # gunicorn, tests: no click context
    terminal.setattr(sys.stderr, "isatty", lambda: False)
    with click.Context(click.Command("worker")):
        assert log_format_for(APP) == "json"  # a pipe, a container
