"""The throwaway stack's names and settings, which runs side by side rely on; no service is touched."""
from __future__ import annotations

from pathlib import Path

from app.config import Settings
from tests.support.stack import PG_ADMIN_URL, RABBITMQ_URL, REDIS_URL, Stack


def test_each_purpose_and_run_has_names_of_its_own():
    bench, test = Stack("bench", run_id="41_abc123"), Stack("test", run_id="41_abc123")
    assert bench.database == "calendar_bench_41_abc123"
    assert bench.redis_prefix == "calendar-bench-41_abc123:"
    assert bench.exchange == "calendar.events.bench-41_abc123"
    assert bench.database_url == PG_ADMIN_URL.rpartition("/")[0] + "/calendar_bench_41_abc123"
    other_run = Stack("bench", run_id="42_def456")
    for a, b in ((bench, test), (bench, other_run)):
        assert {a.database, a.redis_prefix, a.exchange}.isdisjoint({b.database, b.redis_prefix, b.exchange})


def test_an_app_on_the_stack_is_given_every_setting_so_the_callers_environment_cannot_leak_in(monkeypatch):
    monkeypatch.setenv("MAX_HOLDS_PER_CANDIDATE", "7")
    stack = Stack("test", run_id="1_x")
    env = stack.env(SLOT_LOCK_SECONDS="2")
    assert set(Settings.__dataclass_fields__) <= set(env)
    assert env["MAX_HOLDS_PER_CANDIDATE"] == "" and env["RABBITMQ_URL"] == ""  # default; broker off
    settings = Settings.from_env(env)
    assert settings.MAX_HOLDS_PER_CANDIDATE == 1 and settings.SLOT_LOCK_SECONDS == 2
    assert (settings.DATABASE_URL, settings.REDIS_URL) == (stack.database_url, REDIS_URL)
    assert (settings.REDIS_KEY_PREFIX, settings.EVENTS_EXCHANGE) == (stack.redis_prefix, stack.exchange)


def test_a_stack_moved_onto_a_drills_own_service_keeps_its_names_and_the_other_services():
    stack = Stack("test", run_id="1_x")
    moved = stack.on(Path("/tmp/drill"), redis_url="redis://127.0.0.1:7000/0")
    assert (moved.database_url, moved.redis_prefix, moved.exchange) == \
        (stack.database_url, stack.redis_prefix, stack.exchange)
    assert (moved.redis_url, moved.rabbitmq_url) == ("redis://127.0.0.1:7000/0", RABBITMQ_URL)
    assert moved.env()["REDIS_URL"] == "redis://127.0.0.1:7000/0" and moved.workdir == Path("/tmp/drill")
