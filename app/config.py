"""Every setting of the service, read from the environment in one place.

`Settings.from_env()` is called by the app factory; nothing here opens a
connection. DATABASE_URL must name a PostgreSQL database (scripts/run starts an
embedded one when it is unset); production (`APP_ENV=production`) also
refuses to start without keys.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Mapping

from limits import parse_many  # the parser app.gate.rate_limits uses: what passes here, it accepts


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the service must not start."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.05) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in env.get(name, "").split(",") if k.strip())


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


_OFF = ("off", "none", "0")
POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg2://", "postgres://")


def _rate(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    """A rate like "10/minute" or "100/minute;1000/hour" (the `limits` library's); "off" disables it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _OFF:
        return None
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a rate like 10/minute (or off), got {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    """Typed settings; field names are the environment variable names."""

    APP_ENV: str = "development"
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    REDIS_SENTINELS: tuple[str, ...] = ()
    REDIS_SENTINEL_MASTER: str | None = None
    RABBITMQ_URL: str | None = None
    SLOT_LOCK_SECONDS: int = 900
    MAX_HOLDS_PER_CANDIDATE: int = 1
    API_KEYS: tuple[str, ...] = ()
    ADMIN_API_KEYS: tuple[str, ...] = ()
    DB_POOL_SIZE: int = 5
    DB_MAX_OVERFLOW: int = 5
    REDIS_KEY_PREFIX: str = "calendar:"
    REDIS_TIMEOUT_SECONDS: float = 0.5
    REDIS_RETRY_SECONDS: float = 5.0
    REDIS_MAX_CONNECTIONS: int = 4
    EVENTS_EXCHANGE: str = "calendar.events"
    SWEEP_INTERVAL_SECONDS: float = 5.0
    SLOT_HORIZON_DAYS: int = 28
    OUTBOX_RETENTION_DAYS: float = 7.0
    PURGE_INTERVAL_SECONDS: float = 600.0
    IDEMPOTENCY_TTL_HOURS: int = 24
    LISTING_CACHE_SECONDS: float = 1.0
    METRICS_PORT: int = 0
    LOG_FORMAT: str = "json"
    RATE_LIMIT_PER_CANDIDATE: str | None = "10/minute"
    RATE_LIMIT_PER_KEY: str | None = None
    RATE_LIMIT_PER_IP: str | None = None
    MAX_BODY_BYTES: int = 64 * 1024
    TRUSTED_PROXIES: int = 0
    WAITLIST_MAX_DAYS: int = 90
    WAITLIST_MAX_ENTRIES: int = 3
    WAITLIST_CUTOFF_SECONDS: int = 86400
    WAITLIST_OFFER_MIN_SECONDS: int = 1800
    WAITLIST_OFFER_MAX_SECONDS: int = 43200
    WAITLIST_MAX_STRIKES: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read and validate the settings from `env` (default: os.environ)."""
        env = os.environ if env is None else env
        settings = cls(
            APP_ENV=env.get("APP_ENV", "development").strip() or "development",
            DATABASE_URL=_optional(env, "DATABASE_URL"),
            REDIS_URL=_optional(env, "REDIS_URL"),
            REDIS_SENTINELS=_keys(env, "REDIS_SENTINELS"),
            REDIS_SENTINEL_MASTER=_optional(env, "REDIS_SENTINEL_MASTER"),
            RABBITMQ_URL=_optional(env, "RABBITMQ_URL"),
            SLOT_LOCK_SECONDS=_int(env, "SLOT_LOCK_SECONDS", 900, minimum=1),
            MAX_HOLDS_PER_CANDIDATE=_int(env, "MAX_HOLDS_PER_CANDIDATE", 1, minimum=1),
            API_KEYS=_keys(env, "API_KEYS"),
            ADMIN_API_KEYS=_keys(env, "ADMIN_API_KEYS"),
            DB_POOL_SIZE=_int(env, "DB_POOL_SIZE", 5, minimum=1),
            DB_MAX_OVERFLOW=_int(env, "DB_MAX_OVERFLOW", 5),
            REDIS_KEY_PREFIX=env.get("REDIS_KEY_PREFIX", "calendar:") or "calendar:",
            REDIS_TIMEOUT_SECONDS=_float(env, "REDIS_TIMEOUT_SECONDS", 0.5),
            REDIS_RETRY_SECONDS=_float(env, "REDIS_RETRY_SECONDS", 5.0),
            REDIS_MAX_CONNECTIONS=_int(env, "REDIS_MAX_CONNECTIONS", 4, minimum=1),
            EVENTS_EXCHANGE=env.get("EVENTS_EXCHANGE", "calendar.events") or "calendar.events",
            SWEEP_INTERVAL_SECONDS=_float(env, "SWEEP_INTERVAL_SECONDS", 5.0),
            SLOT_HORIZON_DAYS=_int(env, "SLOT_HORIZON_DAYS", 28, minimum=1),
            OUTBOX_RETENTION_DAYS=_float(env, "OUTBOX_RETENTION_DAYS", 7.0, minimum=0.001),
            PURGE_INTERVAL_SECONDS=_float(env, "PURGE_INTERVAL_SECONDS", 600.0, minimum=1.0),
            IDEMPOTENCY_TTL_HOURS=_int(env, "IDEMPOTENCY_TTL_HOURS", 24, minimum=24),
            LISTING_CACHE_SECONDS=_float(env, "LISTING_CACHE_SECONDS", 1.0, minimum=0.0),
            METRICS_PORT=_int(env, "METRICS_PORT", 0),
            LOG_FORMAT=_choice(env, "LOG_FORMAT", ("json", "text")),
            RATE_LIMIT_PER_CANDIDATE=_rate(env, "RATE_LIMIT_PER_CANDIDATE", "10/minute"),
            RATE_LIMIT_PER_KEY=_rate(env, "RATE_LIMIT_PER_KEY", None),
            RATE_LIMIT_PER_IP=_rate(env, "RATE_LIMIT_PER_IP", None),
            MAX_BODY_BYTES=_int(env, "MAX_BODY_BYTES", 64 * 1024, minimum=1024),
            TRUSTED_PROXIES=_int(env, "TRUSTED_PROXIES", 0),
            WAITLIST_MAX_DAYS=_int(env, "WAITLIST_MAX_DAYS", 90, minimum=1),
            WAITLIST_MAX_ENTRIES=_int(env, "WAITLIST_MAX_ENTRIES", 3, minimum=1),
            WAITLIST_CUTOFF_SECONDS=_int(env, "WAITLIST_CUTOFF_SECONDS", 86400),
            WAITLIST_OFFER_MIN_SECONDS=_int(env, "WAITLIST_OFFER_MIN_SECONDS", 1800, minimum=1),
            WAITLIST_OFFER_MAX_SECONDS=_int(env, "WAITLIST_OFFER_MAX_SECONDS", 43200, minimum=1),
            WAITLIST_MAX_STRIKES=_int(env, "WAITLIST_MAX_STRIKES", 2, minimum=1),
        )
        settings.check()
        return settings

    @property
    def is_production(self) -> bool:
        return self.APP_ENV == "production"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.API_KEYS or self.ADMIN_API_KEYS)

    def check(self) -> None:
        """Fail fast on a database that is not PostgreSQL, and on what would make production unsafe."""
        if self.DATABASE_URL and not self.DATABASE_URL.startswith(POSTGRES_SCHEMES):
            raise ConfigError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        self._check_sentinels()
        if not self.is_production:
            return
        if not self.API_KEYS or not self.ADMIN_API_KEYS:
            raise ConfigError("APP_ENV=production requires API_KEYS and ADMIN_API_KEYS")
        if not self.DATABASE_URL:
            raise ConfigError("APP_ENV=production requires DATABASE_URL")

    def _check_sentinels(self) -> None:
        if not self.REDIS_SENTINELS:
            return
        if not self.REDIS_SENTINEL_MASTER:
            raise ConfigError("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name the sentinels monitor")
        if not self.REDIS_URL:
            raise ConfigError("REDIS_SENTINELS needs REDIS_URL for the database number and password "
                              "(its host is not used)")
        for address in self.REDIS_SENTINELS:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"REDIS_SENTINELS must be host:port pairs, got {address!r}")

    def as_flask_config(self) -> dict[str, Any]:
        """The settings as Flask config keys."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
