"""Rate limits for slot-release floods: fixed windows, counted by the gate (`app.gate.rate_limits`).

| limit | setting (default) | covers | keyed by |
|---|---|---|---|
| per candidate | RATE_LIMIT_PER_CANDIDATE (10/minute) | POST /api/v1/bookings | the body's candidate_id |
| per API key | RATE_LIMIT_PER_KEY (off) | every request with a valid key | the key's digest |
| per client IP | RATE_LIMIT_PER_IP (off) | GET of hubs, a hub and slots (public) | the client address |

A refusal is `TooManyRequests`: a 429 in the one error shape with
`Retry-After` (seconds until the window ends). The per-key and per-IP limits
are checked by a `before_request` hook, picked by URL rule: one Redis round
trip per covering limit (a refusal reads the window's TTL too); a request no
limit covers costs two predicates. A hold is counted only once its key and
body are valid, so an invalid one spends nobody's budget: its view calls
`hold_budget`, which spends the key's budget and hands the candidate's to
`hold_slot`, where the slot gate's script counts it and takes the slot's lock
in one round trip. Counters live in Redis when REDIS_URL is set (every process
and replica counts together), in process memory otherwise; while Redis fails,
requests go through uncounted (see `app.gate.rate_limits`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable
from uuid import UUID

from flask import Flask, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.errors import TooManyRequests
from app.gate import Budget, slot_gate

HOLD_RULE = "/api/v1/bookings"
# Exact rules: a hub's day sheet (/api/v1/hubs/<id>/bookings) is an admin's read, not a public one.
PUBLIC_READ_RULES = ("/api/v1/hubs", "/api/v1/hubs/<uuid:hub_id>", "/api/v1/slots")
PER_KEY, PER_IP, PER_CANDIDATE = "api-key", "public-read-ip", "hold"


def _rule() -> str:
    return request.url_rule.rule if request.url_rule is not None else ""


def is_hold() -> bool:
    """POST /api/v1/bookings (matched by URL rule, so endpoint names may change freely)."""
    return request.method == "POST" and _rule() == HOLD_RULE


def is_public_read() -> bool:
    return request.method == "GET" and _rule() in PUBLIC_READ_RULES


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


@dataclass(frozen=True)
class LimitRule:
    """A configured limit: `identity()` names whose budget a request spends, None if not covered."""

    scope: str
    rate: str
    identity: Callable[[], str | None]
    message: str

    def spend(self, identity: str) -> None:
        """Spend `identity`'s budget once; TooManyRequests when it is overspent."""
        wait = slot_gate().rate_limits.spend(Budget(self.scope, identity, self.rate))
        if wait is not None:
            raise TooManyRequests(f"{self.message}: {self.rate}, try again later", retry_after=wait)


def _key_unless_hold() -> str | None:
    return None if is_hold() else api_key_id()  # a hold spends it once valid (`hold_budget`)


def _address_of_public_read() -> str | None:
    return client_address() if is_public_read() else None


def _rules(config) -> tuple[LimitRule, ...]:
    wanted = (("RATE_LIMIT_PER_KEY", PER_KEY, _key_unless_hold, "too many requests for this API key"),
              ("RATE_LIMIT_PER_IP", PER_IP, _address_of_public_read, "too many requests from this address"))
    return tuple(LimitRule(scope, config[setting], identity, message)
                 for setting, scope, identity, message in wanted if config[setting])


def check_limits() -> None:
    """before_request: spend the budget of each limit that covers the request."""
    for rule in current_app.extensions["calendar.rate_limits"]:
        identity = rule.identity()
        if identity is not None:
            rule.spend(identity)


def hold_budget(candidate_id: UUID) -> Budget | None:
    """A hold's limits, once its key and body are valid: spend the key's budget now, and return
    the candidate's, which the slot gate spends in its round trip (`hold_slot`)."""
    for rule in current_app.extensions["calendar.rate_limits"]:
        if rule.scope == PER_KEY and (key := api_key_id()) is not None:
            rule.spend(key)
    rate = current_app.config["RATE_LIMIT_PER_CANDIDATE"]
    return Budget(PER_CANDIDATE, str(candidate_id), rate) if rate else None


def init_app(app: Flask) -> None:
    """Check the limits before each request; no connection is opened until the first limited one."""
    config = app.config
    if config["TRUSTED_PROXIES"]:
        # Behind N proxies the client is the Nth address from the right of X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["TRUSTED_PROXIES"])
    app.extensions["calendar.key_ids"] = frozenset(
        hashlib.sha256(key.encode()).hexdigest()[:16]
        for key in (*config["API_KEYS"], *config["ADMIN_API_KEYS"]))
    app.extensions["calendar.rate_limits"] = _rules(config)
    app.before_request(check_limits)
