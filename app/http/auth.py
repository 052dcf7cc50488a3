"""API keys: `Authorization: Bearer <key>`, compared in constant time.

`API_KEYS` are clients (bookings, events); `ADMIN_API_KEYS` also manage hubs
and slots. With no key configured at all the service runs open (development
only: `APP_ENV=production` refuses to start that way).
"""
from __future__ import annotations

import hashlib
import hmac
from functools import wraps

from flask import current_app, g, request

from app.errors import Forbidden, Unauthorized

ANONYMOUS = "anonymous"


def _matches(presented: bytes, keys: tuple[str, ...]) -> bool:
    # Compare against every key, without stopping early, so timing tells nothing.
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key.encode())
    return found


def authenticate(admin: bool) -> None:
    """Check the request's key; sets `g.client_id` (a digest, never the key)."""
    config = current_app.config
    if not (config["API_KEYS"] or config["ADMIN_API_KEYS"]):
        g.client_id = ANONYMOUS
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    presented = token.strip().encode()
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized()
    is_admin = _matches(presented, config["ADMIN_API_KEYS"])
    is_client = _matches(presented, config["API_KEYS"])
    if not (is_admin or is_client):
        raise Unauthorized()
    if admin and not is_admin:
        raise Forbidden("an admin API key is required")
    g.client_id = hashlib.sha256(presented).hexdigest()[:16]


def _requires(admin: bool):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            authenticate(admin)
            return view(*args, **kwargs)
        return wrapper
    return decorator


requires_client = _requires(admin=False)
requires_admin = _requires(admin=True)
