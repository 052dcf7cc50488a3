"""scripts/run's console (notices folded, the banner) and the demo ids the scripts name; no service."""
from __future__ import annotations

import importlib.util
import re
from importlib.machinery import SourceFileLoader

from app.ops.demo import DEMO_HUB_ID, DEMO_SLOT_IDS
from tests.support.stack import ROOT


def load(path: str, name: str):
    loader = SourceFileLoader(name, str(ROOT / path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    loader.exec_module(module)
    return module


console = load("scripts/lib/console.py", "run_console")
demo = load("scripts/demo", "demo_script")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def text_line(level: str, logger: str, message: str, second: int = 0) -> str:
    return f"2026-12-01 23:58:{second:02d},969 {level} {logger} {message}\n"


def test_a_notice_every_process_logs_at_start_is_shown_once_within_the_window():
    clock = Clock()
    once = console.Once(window=60, clock=clock)
    warning = "no API_KEYS/ADMIN_API_KEYS set: every endpoint is open (development only)"
    assert not once.repeat(text_line("WARNING", "app", warning, 1))
    clock.now = 3
    assert once.repeat(text_line("WARNING", "app", warning, 4))  # another process, another timestamp
    assert once.repeat(f'{{"level": "WARNING", "logger": "app", "message": "{warning}", "timestamp": "x"}}')
    clock.now = 70
    assert not once.repeat(text_line("WARNING", "app", warning))  # a minute on: said again


def test_errors_events_request_lines_and_other_output_are_never_folded():
    once = console.Once(clock=Clock())
    for line in (text_line("ERROR", "app.worker.loops", "sweep failed: OperationalError"),
                 text_line("INFO", "calendar.events", '{"type": "SlotLocked"}'),
                 "Traceback (most recent call last):\n",
                 "INFO  [alembic.runtime.migration] Will assume transactional DDL.\n"):
        assert not once.repeat(line) and not once.repeat(line)
    assert not once.repeat(text_line("WARNING", "app.ops.health", "[r1] health: database unavailable"))
    assert not once.repeat(text_line("WARNING", "app.ops.health", "[r2] health: database unavailable"))


def test_the_banner_names_the_url_docs_health_demo_hub_and_keys():
    health = {"status": "ok", "checks": {"broker": "disabled", "database": "ok", "redis": "disabled"}}
    shown = console.banner("http://localhost:8002", health, str(DEMO_HUB_ID), keys_on=False)
    for part in ("http://localhost:8002/api/docs", "http://localhost:8002/health",
                 "(database ok, redis disabled, broker disabled)", str(DEMO_HUB_ID),
                 "API keys   off", "try it     scripts/demo http://localhost:8002"):
        assert part in shown
    keyed = console.banner("http://localhost:8002", health, str(DEMO_HUB_ID), keys_on=True)
    assert "API keys   on" in keyed and "API_KEY=<a client key> scripts/demo http://localhost:8002" in keyed


def test_the_scripts_name_the_demo_hub_and_slots_the_app_seeds():
    run = (ROOT / "scripts" / "run").read_text()
    assert re.search(r"^DEMO_HUB=(\S+)", run, re.M).group(1) == str(DEMO_HUB_ID)
    assert demo.DEMO_HUB_ID == str(DEMO_HUB_ID)
    assert set(demo.FIXED_SLOT_IDS) == {str(slot_id) for slot_id in DEMO_SLOT_IDS}
