"""The production start-up checks: the service refuses to start on unsafe settings."""
from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


@pytest.mark.parametrize("env", [
    {"APP_ENV": "production"},
    {"APP_ENV": "production", "API_KEYS": "k", "DATABASE_URL": "postgresql://db/calendar"},
    {"APP_ENV": "production", "ADMIN_API_KEYS": "a", "DATABASE_URL": "postgresql://db/calendar"},
    {"APP_ENV": "production", "API_KEYS": "k", "ADMIN_API_KEYS": "a"},
    {"APP_ENV": "production", "API_KEYS": "k", "ADMIN_API_KEYS": "a", "DATABASE_URL": "mysql://db/calendar"},
    {"APP_ENV": "development", "DATABASE_URL": "mysql://db/calendar"},
])
def test_production_refuses_unsafe_settings(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_production_starts_with_keys_and_postgres():
    settings = Settings.from_env({"APP_ENV": "production", "API_KEYS": "k1,k2",
                                  "ADMIN_API_KEYS": "adm", "DATABASE_URL": "postgresql://db/calendar"})
    assert settings.is_production and settings.API_KEYS == ("k1", "k2")


@pytest.mark.parametrize("env, complaint", [
    ({"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_URL": "redis://x/0"}, "REDIS_SENTINEL_MASTER"),
    ({"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_URL"),
    ({"REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://x/0"},
     "host:port"),
])
def test_sentinel_settings_are_checked_at_start(env, complaint):
    with pytest.raises(ConfigError, match=complaint):
        Settings.from_env(env)


def test_sentinels_are_a_list_of_addresses():
    settings = Settings.from_env({"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379",
                                  "REDIS_SENTINEL_MASTER": "calendar", "REDIS_URL": "redis://:pw@x/2"})
    assert settings.REDIS_SENTINELS == ("10.0.0.1:26379", "10.0.0.2:26379")
