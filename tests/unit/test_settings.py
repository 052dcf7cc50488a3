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
