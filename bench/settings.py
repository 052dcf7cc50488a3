"""How the bench runs the service: the reference settings, the same for the ceiling and the service."""
from __future__ import annotations

import os
import runpy
from functools import lru_cache

from tests.support.stack import RABBITMQ_URL, ROOT, Stack

WEB_WORKERS = 4  # the reference setting, for the ceiling and the service alike
CLIENT_KEY = "bench-client-key"
ADMIN_KEY = "bench-admin-key"


@lru_cache(maxsize=1)
def gunicorn_settings() -> dict:
    """gunicorn.conf.py's own choices (threads, worker class), as the servers will see them."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {"workers": WEB_WORKERS, "threads": conf.get("threads"), "worker_class": conf.get("worker_class"),
            "keepalive": conf.get("keepalive"), "timeout": conf.get("timeout")}


def service_env(stack: Stack, **overrides: str) -> dict[str, str]:
    """Production-like settings on the stack: keys on, the broker on, no worker inside the web processes."""
    threads = gunicorn_settings()["threads"] or 1
    return stack.env(APP_ENV="production", API_KEYS=CLIENT_KEY, ADMIN_API_KEYS=ADMIN_KEY,
                     RABBITMQ_URL=RABBITMQ_URL,
                     # One connection per request thread, a little overflow for the odd extra checkout
                     # (a worker class without threads sets its own through the environment).
                     DB_POOL_SIZE=os.environ.get("DB_POOL_SIZE", str(threads)),
                     DB_MAX_OVERFLOW=os.environ.get("DB_MAX_OVERFLOW", "2"),
                     # Waitlist offers run out in 5 s, so the bench sees the worker pass them on;
                     # the release publishes 1,000 slots (~110 KB) in one request.
                     WAITLIST_OFFER_MIN_SECONDS="5", WAITLIST_OFFER_MAX_SECONDS="5",
                     MAX_BODY_BYTES="262144",
                     PYTHONDONTWRITEBYTECODE="1", **overrides)


def web(name: str, app: str, ready_path: str) -> dict:
    """`Stack.start_gunicorn` options for the service or the ceiling: -w 4, the access log to a file."""
    return {"name": name, "app": app, "ready_path": ready_path, "workers": WEB_WORKERS,
            "threads": gunicorn_settings()["threads"] or 1, "access_log": True}
