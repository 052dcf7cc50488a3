"""Rate limits for slot-release floods, by Flask-Limiter (fixed window).

| limit | setting (default) | covers | keyed by |
|---|---|---|---|
| per candidate | RATE_LIMIT_PER_CANDIDATE (10/minute) | POST /api/v1/bookings | the body's candidate_id |
| per API key | RATE_LIMIT_PER_KEY (off) | every request with a valid key | the key's digest |
| per client IP | RATE_LIMIT_PER_IP (off) | GET of hubs and slots (public) | the client address |

A refusal is a 429 in the one error shape with `Retry-After`. Counters live in
Redis when REDIS_URL is set (on the slot gate's connection pool, under
REDIS_KEY_PREFIX, so every process and replica counts together), in process
memory otherwise. A fixed window costs one round trip per covering limit (a Lua
INCRBY, with EXPIRE on the first hit); only a refusal reads the window's TTL.
On the hot-slot path, where the Redis gate answers a refused click in one round
trip, this doubles the round trips: see docs/deploy.md, "Capacity".

Flask-Limiter's generic resolution (decorated views, blueprints, exemptions)
cost ~60 us per request here. These three limits are picked by URL rule, so
`CalendarLimiter` evaluates them directly through Flask-Limiter's own storage
and strategy; a request no limit covers costs two predicates.

The limits protect the service, so they must never be what stops it: when the
counter store fails, the request goes through, the failure is logged once per
outage and counted (`calendar_rate_limit_store_failures_total`), and limits are
skipped for REDIS_RETRY_SECONDS so requests do not each wait for a timeout.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from flask import Flask, current_app, g, jsonify, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded, RequestLimit
from limits.errors import StorageError
from werkzeug.middleware.proxy_fix import ProxyFix

from app.http.errors import error_body
from app.observability import metrics

log = logging.getLogger(__name__)

HOLD_RULE = "/api/v1/bookings"
PUBLIC_READ_PREFIXES = ("/api/v1/hubs", "/api/v1/slots")


def _rule() -> str:
    return request.url_rule.rule if request.url_rule is not None else ""


def is_hold() -> bool:
    """POST /api/v1/bookings (matched by URL rule, so endpoint names may change freely)."""
    return request.method == "POST" and _rule() == HOLD_RULE


def is_public_read() -> bool:
    return request.method == "GET" and _rule().startswith(PUBLIC_READ_PREFIXES)


def candidate_key() -> str | None:
    """The body's candidate_id in canonical form, or None when there is none to count.

    `get_json` caches what it parses, so the view's Idempotency-Key digest reads the
    same object. The canonical UUID form stops "ABC..." and "abc..." from being two
    budgets. A body without a valid candidate is a 422 that never reaches a store.
    """
    body = request.get_json(silent=True)
    value = body.get("candidate_id") if isinstance(body, dict) else None
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def api_key_id() -> str | None:
    """A digest of the request's key when it is a configured one, else None.

    Unknown keys count nowhere: the view refuses them with 401, and they must not
    spend a real client's budget.
    """
    if "rate_key" not in g:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        digest = hashlib.sha256(token.strip().encode()).hexdigest()[:16]
        valid = scheme.lower() == "bearer" and digest in current_app.extensions["calendar.key_ids"]
        g.rate_key = digest if valid else None
    return g.rate_key


def client_address() -> str:
    return request.remote_addr or "unknown"


def _candidate_of_a_hold() -> str | None:
    """A hold's candidate, counted only for callers the view will let in."""
    if not is_hold() or (current_app.extensions["calendar.key_ids"] and api_key_id() is None):
        return None
    return candidate_key()


@dataclass(frozen=True)
class LimitRule:
    """One configured limit: `key()` names whose budget a request spends, None if not covered."""

    scope: str
    key: Callable[[], str | None]
    windows: tuple  # Flask-Limiter's RuntimeLimit per window of the rate ("10/minute;50/hour")


def _rules(config) -> list[LimitRule]:
    wanted = (
        ("RATE_LIMIT_PER_CANDIDATE", "hold-per-candidate", _candidate_of_a_hold,
         "too many holds for this candidate"),
        ("RATE_LIMIT_PER_KEY", "per-api-key", api_key_id, "too many requests for this API key"),
        ("RATE_LIMIT_PER_IP", "public-read-per-ip",
         lambda: client_address() if is_public_read() else None, "too many requests from this address"),
    )
    return [LimitRule(scope, key, tuple(ApplicationLimit(
                limit_provider=config[setting], scope=scope, key_function=key,
                error_message=f"{message}: {config[setting]}, try again later")))
            for setting, scope, key, message in wanted if config[setting]]


class CalendarLimiter(Limiter):
    """Flask-Limiter that checks the service's rules, and lets requests through while its store fails."""

    def __init__(self, *args, rules: list[LimitRule], retry_seconds: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rules = rules
        self.retry_seconds = retry_seconds
        self._skip_until = 0.0

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        """The before_request hook Flask-Limiter registers: hit each covering window once.

        A hold's windows are not hit here: they go to Redis in the same round
        trip as the slot gate (`HoldBudget`), so a refused click still costs one.
        """
        covering = [(rule, key) for rule in self.rules if (key := rule.key())]
        if not covering:
            return
        if time.monotonic() < self._skip_until:
            metrics.rate_limit_store_failed()
            return
        hits = [(window, key, rule.scope) for rule, key in covering for window in rule.windows]
        if is_hold():
            g.hold_budget = HoldBudget(self, hits)
            return
        self.hit_all(hits)

    def hit_all(self, hits: list, counts: list[int] | None = None) -> None:
        """Spend each (window, key, scope) once (or judge `counts` already spent); raise when over."""
        try:
            for index, (window, key, scope) in enumerate(hits):
                within = (counts[index] <= window.limit.amount if counts is not None
                          else self.limiter.hit(window.limit, key, scope))
                if not within:
                    self.context.view_rate_limit = RequestLimit(self, window.limit, [key, scope], True, True)
                    raise RateLimitExceeded(window)
        except StorageError as exc:
            self._store_failed(exc)
            return
        if self._skip_until:
            self._skip_until = 0.0
            log.warning("rate-limit store reachable again: limits restored")

    def _store_failed(self, exc: StorageError) -> None:
        metrics.rate_limit_store_failed()
        if not self._skip_until:
            log.warning("rate-limit store unavailable (%s): requests go through unlimited",
                        type(exc.storage_error).__name__)
        self._skip_until = time.monotonic() + self.retry_seconds


class HoldBudget:
    """A hold's rate-limit windows, spent in the slot gate's Redis round trip.

    `queue(pipe)` adds Flask-Limiter's own fixed-window increments to the
    gate's pipeline; `settle(counts)` raises RateLimitExceeded (429) if one is
    over. Without a pipeline (no Redis, or the gate bypassed) `settle(None)`
    spends them the ordinary way, through the limiter's storage.
    """

    def __init__(self, limiter: CalendarLimiter, hits: list) -> None:
        self.limiter, self.hits = limiter, hits

    def queue(self, pipe) -> None:
        # Flask-Limiter's own increment script, by its SHA: a pipeline would
        # otherwise ask SCRIPT EXISTS first, a round trip of its own. If Redis
        # lost the script (restart), `settle` falls back to the ordinary hit.
        storage = self.limiter.storage
        for window, key, scope in self.hits:
            item = window.limit
            pipe.evalsha(storage.lua_incr_expire.sha, 1, storage.prefixed_key(item.key_for(key, scope)),
                         item.get_expiry(), 1)

    def settle(self, counts: list | None) -> None:
        if counts is None or any(isinstance(count, Exception) for count in counts):
            self.limiter.hit_all(self.hits)
        else:
            self.limiter.hit_all(self.hits, [int(count) for count in counts])


def hold_budget() -> HoldBudget | None:
    """The current hold request's unspent budget, if a limit covers it."""
    return g.pop("hold_budget", None)


def _too_many_requests(err: RateLimitExceeded):
    """429 in the error shape; Retry-After from the window's TTL (one read, refusals only)."""
    limiter: CalendarLimiter = current_app.extensions["calendar.limiter"]
    window = err.limit.limit.get_expiry()
    breached = limiter.current_limit
    try:
        reset_at = limiter.storage.get_expiry(breached.key) if breached else None
    except StorageError:
        reset_at = None  # the store failed just now: the window's length is an upper bound
    retry_after = window if reset_at is None else min(window, max(1, math.ceil(reset_at - time.time())))
    return jsonify(error_body(429, err.description)), 429, {"Retry-After": str(retry_after)}


def init_app(app: Flask) -> None:
    """Attach the limiter; no connection is opened until the first limited request."""
    config = app.config
    if config["TRUSTED_PROXIES"]:
        # Behind N proxies the client is the Nth address from the right of X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["TRUSTED_PROXIES"])
    app.extensions["calendar.key_ids"] = frozenset(
        hashlib.sha256(key.encode()).hexdigest()[:16]
        for key in (*config["API_KEYS"], *config["ADMIN_API_KEYS"]))
    gate_client = app.extensions["calendar.gate"].client
    storage = {"wrap_exceptions": True}
    if gate_client is not None:
        storage.update(connection_pool=gate_client.connection_pool,
                       key_prefix=f"{config['REDIS_KEY_PREFIX']}ratelimit")
    limiter = CalendarLimiter(
        key_func=client_address,
        rules=_rules(config),
        storage_uri=config["REDIS_URL"] or "memory://",
        storage_options=storage,
        strategy="fixed-window",
        headers_enabled=False,  # X-RateLimit-* would cost two more round trips per request
        retry_seconds=config["REDIS_RETRY_SECONDS"],
    )
    limiter.init_app(app)
    app.extensions["calendar.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
