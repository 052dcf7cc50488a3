"""The retry policy and the pooled HTTP session it is mounted on.

Retries live in urllib3 (`Retry` on the session's `HTTPAdapter`), not in a
loop of our own, so connection errors, read timeouts, dropped responses and
502/503/504 are all retried by one mechanism with one backoff.

Which methods may be retried is the delicate part. GET is safe, and so is
DELETE: leaving the waitlist answers a repeat with the same left entry, and
withdrawing a slot with the same withdrawn slot. PATCH too: amending a hub
sets the values it names, so a repeat sets them again. A POST is safe only
when the service can recognise the retry as the same request, which it does
through the `Idempotency-Key` header.
urllib3's `Retry` never sees request headers, so the rule is enforced one
level up instead: POST is in `allowed_methods` and `CalendarClient` sends an
`Idempotency-Key` on every POST (one per logical call, reused by every
attempt). A retried POST is therefore always a replay the service answers
from its first response, never a second booking.
"""
from __future__ import annotations

import http.cookiejar
from typing import Any

import requests
import requests.auth
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_METHODS = frozenset({"GET", "HEAD", "DELETE", "PATCH", "POST"})


class CalendarRetry(Retry):
    """urllib3 `Retry` that honours Retry-After but never sleeps longer than `retry_after_max`.

    A service under load may ask for a long pause; a caller serving a web
    request would rather fail fast than hang, so the pause is capped. (Newer
    urllib3 has its own `retry_after_max`; this works with every 1.26+/2.x.)
    """

    def __init__(self, *args: Any, retry_after_cap: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap

    def new(self, **kwargs: Any) -> CalendarRetry:
        """Copy the policy for the next attempt, keeping the cap."""
        retry = super().new(**kwargs)
        retry.retry_after_cap = self.retry_after_cap
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds to wait as the service asked, capped."""
        return min(super().parse_retry_after(retry_after), self.retry_after_cap)


def build_retry(retries: int, backoff_factor: float, retry_after_cap: float) -> CalendarRetry:
    """The client's policy: `retries` extra attempts on network errors and 502/503/504."""
    return CalendarRetry(
        total=retries,
        connect=retries,
        read=retries,  # read timeouts and dropped responses, POST included (see module doc)
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=RETRY_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        respect_retry_after_header=True,
        # Hand the last 5xx back instead of raising, so its error body reaches the caller.
        raise_on_status=False,
        retry_after_cap=retry_after_cap,
    )


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <key>`; as session auth it also keeps ~/.netrc out."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


def build_session(retry: Retry, pool_maxsize: int) -> requests.Session:
    """A session whose one pooled adapter carries `retry` for http and https.

    Cookies are never stored: the session is shared by every user of the
    backend, and a load balancer's cookie must not travel from one to the next.
    """
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
